"""Fetching Binance's public daily dumps into the data directory.

Shell module: touches the network (stdlib urllib, nothing else) and the file system. It
never leaves a partial file looking valid: a download goes to a hidden `.part` file in the
destination directory, and only a checksum-verified CSV is renamed into place.

Source: docs/references.md [binance-data-vision].
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

from clearing import __version__
from clearing.errors import ConfigError, DataError

BINANCE_URL = "https://data.binance.vision"
BINANCE_KINDS = ("klines", "aggTrades", "bookDepth")
TIMEOUT_S = 60
_CHUNK = 1 << 20
_INTERVAL = re.compile(r"[1-9][0-9]*(s|m|h|d|w|mo)")
_SYMBOL = re.compile(r"[A-Z0-9_]{2,40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def binance_url(symbol: str, day: date, kind: str, base_url: str = BINANCE_URL, interval: str = "1m") -> str:
    """Return the URL of Binance's USD-M futures daily dump of `kind` for `symbol` on `day`.

    Raises:
        ConfigError: an unknown kind, a malformed symbol or interval, a base URL that is not http(s).
    """
    symbol = symbol.upper()
    scheme, sep, host = base_url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not host.strip("/"):
        raise ConfigError(f"--base-url {base_url!r}: expected an http:// or https:// URL")
    if kind not in BINANCE_KINDS:
        raise ConfigError(f"kind {kind!r}: expected one of {', '.join(BINANCE_KINDS)}")
    if not _SYMBOL.fullmatch(symbol):
        raise ConfigError(f"symbol {symbol!r}: expected letters and digits, e.g. BTCUSDT")
    if not _INTERVAL.fullmatch(interval):
        raise ConfigError(f"interval {interval!r}: expected e.g. 1m, 5m, 1h, 1d")
    folder = f"{base_url.rstrip('/')}/data/futures/um/daily/{kind}/{symbol}"
    if kind == "klines":
        return f"{folder}/{interval}/{symbol}-{interval}-{day.isoformat()}.zip"
    return f"{folder}/{symbol}-{kind}-{day.isoformat()}.zip"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


@contextmanager
def _part_file(dest: Path, name: str) -> Iterator[Path]:
    # A hidden temporary name next to the target, removed whatever happens.
    part = dest / f".{name}.{secrets.token_hex(4)}.part"
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


def _get(url: str, out: Path | None, timeout_s: float) -> tuple[bytes, str]:
    # Download `url` into `out` (or memory when None); return (body if in memory, sha256 hex).
    request = urllib.request.Request(url, headers={"User-Agent": f"clearing/{__version__}"})
    digest = hashlib.sha256()
    body = bytearray()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if out is None:
                body += response.read(1 << 16)
                digest.update(body)
            else:
                with out.open("xb") as f:
                    while chunk := response.read(_CHUNK):
                        digest.update(chunk)
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
    except urllib.error.HTTPError as e:
        e.close()
        raise DataError(f"{url}: HTTP {e.code} {_one_line(e.reason)}") from None
    except urllib.error.URLError as e:
        raise DataError(f"{url}: {_one_line(e.reason)}") from None
    except (OSError, http.client.HTTPException) as e:
        raise DataError(f"{url}: {_one_line(e) or type(e).__name__}") from None
    return bytes(body), digest.hexdigest()


def _expected_sha256(url: str, zip_name: str, timeout_s: float) -> str:
    text, _ = _get(f"{url}.CHECKSUM", None, timeout_s)
    fields = text.decode("ascii", "replace").split()
    if not fields or not _SHA256.fullmatch(fields[0].lower()) or (len(fields) > 1 and fields[1].lstrip("*") != zip_name):
        raise DataError(
            f"{url}.CHECKSUM: expected '<sha256>  {zip_name}', was {_one_line(text[:200].decode('ascii', 'replace'))!r}"
        )
    return fields[0].lower()


def _extract_csv(zip_path: Path, url: str, target: Path, overwrite: bool) -> None:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                raise DataError(f"{url}: expected one CSV file in the zip, found {[m.filename for m in members]}")
            with _part_file(target.parent, target.name) as part:
                with archive.open(members[0]) as source, part.open("xb") as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if target.exists() and not overwrite:
                    raise DataError(f"{target} already exists; pass --overwrite to replace it")
                os.replace(part, target)
    except zipfile.BadZipFile as e:
        raise DataError(f"{url}: not a valid zip file ({_one_line(e)})") from None
    except OSError as e:
        raise DataError(f"{target}: cannot write: {e.strerror or e}") from None


def fetch_binance(
    symbol: str,
    day: date,
    kind: str,
    dest: str | Path,
    base_url: str = BINANCE_URL,
    interval: str = "1m",
    overwrite: bool = False,
    timeout_s: float = TIMEOUT_S,
) -> Path:
    """Download one daily USD-M futures dump from Binance, verify it and return the CSV's path.

    URL: `{base_url}/data/futures/um/daily/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{day}.zip`
    (klines) or `.../daily/{kind}/{SYMBOL}/{SYMBOL}-{kind}-{day}.zip` (aggTrades, bookDepth).
    The zip's SHA-256 must equal the one in `<url>.CHECKSUM` (`<hex>  <zip name>`). The one
    CSV inside is written to `dest/<zip name minus .zip>.csv` through a temporary file and an
    atomic rename; `dest` is created if missing. Needs internet; `timeout_s` per request.

    Raises:
        ConfigError: an unknown kind, a malformed symbol or interval.
        DataError: the CSV exists and overwrite is False; a network or HTTP error (URL and
            reason); a checksum mismatch or malformed .CHECKSUM; not a zip with exactly one
            CSV; dest not writable. In every case nothing is left in dest.
    """
    url = binance_url(symbol, day, kind, base_url, interval)
    zip_name = url.rsplit("/", 1)[1]
    dest = Path(dest)
    target = dest / f"{zip_name.removesuffix('.zip')}.csv"
    if target.exists() and not overwrite:
        raise DataError(f"{target} already exists; pass --overwrite to replace it")
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest}: cannot create the directory: {e.strerror or e}") from None
    try:
        expected = _expected_sha256(url, zip_name, timeout_s)
        with _part_file(dest, zip_name) as part:
            _, actual = _get(url, part, timeout_s)
            if actual != expected:
                raise DataError(f"{url}: SHA-256 {actual} does not match {expected} from its .CHECKSUM; nothing written")
            _extract_csv(part, url, target, overwrite)
    except DataError:
        if created:
            with suppress(OSError):  # only an empty directory we made ourselves
                dest.rmdir()
        raise
    return target
