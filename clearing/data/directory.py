"""Where market-data files live: the data directory's search order, lookups, checksums and CSV rows.

Touches the file system only (the network is `clearing.data.binance`'s).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from clearing.errors import DataError

DATA_DIR_ENV = "CLEARING_DATA_DIR"
ALLOW_PATH_ENV = "CLEARING_ALLOW_PATH"  # more folders a data file may be read from (os.pathsep-separated; --allow-path)
_CHUNK = 1 << 20


def search_places(data_dir: str | Path | None) -> list[tuple[Path, str]]:
    """Return the data directories to search, in order, each with where it came from.

    The --data-dir option (when given), then $CLEARING_DATA_DIR (when set and not empty),
    then ./data (relative to the current directory).
    """
    places = []
    if data_dir:
        places.append((Path(data_dir), "--data-dir"))
    if os.environ.get(DATA_DIR_ENV):
        places.append((Path(os.environ[DATA_DIR_ENV]), DATA_DIR_ENV))
    places.append((Path("data"), "./data"))
    return places


def default_data_dir(data_dir: str | Path | None) -> Path:
    """Return the directory new data files go to: the first of search_places(data_dir)."""
    return search_places(data_dir)[0][0]


def allowed_places(data_dir: str | Path | None) -> list[Path]:
    """Return the folders data files may be read from: the data directories, then $CLEARING_ALLOW_PATH's."""
    extra = [Path(p) for p in os.environ.get(ALLOW_PATH_ENV, "").split(os.pathsep) if p]
    return [p.resolve() for p in [*(place for place, _ in search_places(data_dir)), *extra]]


def resolve_data_file(name: str | Path, data_dir: str | Path | None) -> Path:
    """Return the path of data file `name`, which must lie inside a data directory or an allowed folder.

    A `Path` object is a caller's own choice of file (the Python API) and is used as it is; the
    names scenarios, books and the command line give are strings, and they are confined:
    An absolute path, or one starting with ./ or ../, is used as is when it lies inside one of
    `allowed_places(data_dir)` (a data directory, or a folder given with --allow-path). Any
    other name is looked up in search_places(data_dir) order and the first existing file
    inside its place wins (returned as an absolute path). Nothing else on the machine is read.

    Raises:
        DataError: no such file, or a file outside the allowed folders; one line naming the places.
    """
    if isinstance(name, Path):
        if not name.is_file():
            raise DataError(f"{name}: no such data file")
        return name
    if not name:
        raise DataError("empty data file name")
    if Path(name).is_absolute() or name.startswith(("./", "../", f".{os.sep}", f"..{os.sep}")):
        if not Path(name).is_file():
            raise DataError(f"{name}: no such data file")
        real = Path(name).resolve()
        if not any(real.is_relative_to(place) for place in allowed_places(data_dir)):
            raise DataError(f"{name}: outside the data directories ({', '.join(str(p) for p in allowed_places(data_dir))}); "
                            f"pass --allow-path {real.parent} to read it")  # fmt: skip
        return Path(name)
    looked = []
    for place, origin in search_places(data_dir):
        candidate = (place / name).absolute()
        if candidate.is_file() and candidate.resolve().is_relative_to(place.resolve()):
            return candidate
        looked.append(f"{candidate} ({origin})")
    raise DataError(f"data file {name!r} not found; looked in {', '.join(looked)}")


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes as 64 lowercase hex digits.

    Raises:
        DataError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    return digest.hexdigest()


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, stripped fields) of a CSV file, skipping blank lines.

    Raises:
        DataError: the file cannot be read, is not UTF-8 text or not CSV (one line, naming
            the file and, where known, the line).
    """
    line = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for fields in reader:
                line = reader.line_num
                if fields and any(x.strip() for x in fields):
                    yield line, [x.strip() for x in fields]
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}:{line + 1}: not UTF-8 text") from None
    except csv.Error as e:
        raise DataError(f"{path}:{line + 1}: {e}") from None
