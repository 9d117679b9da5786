"""`clearing export`: a log's views as Parquet files, for pandas, polars, DuckDB and Spark.

One file per view (so the files are partitioned by event kind), written in row groups of
`frames.CHUNK_ROWS` rows with the units of `clearing.apps.frames`: UTC timestamps, exact
decimal prices, sizes and money. The views that only rename another (`trades` is
`trade_executed`) are not written twice; the kinds without a row are left out. Beside them,
`run.parquet` holds the header and `_export.json` says what was written from which run
(run id, head hash, rows per view).

The chain is verified first, on the snapshot that is exported: a log that fails
verification exports nothing. The files are written into `DIR.partial` and moved into place
at the end, so a directory that looks finished is finished.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from clearing import events as ev
from clearing.apps.fold import fold_log
from clearing.apps.frames import Log, libraries
from clearing.errors import ConfigError
from clearing.log import schema

MANIFEST = "_export.json"


def exported_views(log: Log) -> list[str]:
    """Return the views an export writes: each kind's with rows, and the aliases that add columns, sorted."""
    counts = log.kinds()
    copies = set(schema.VIEW_ALIASES) - schema.SHAPED_ALIASES
    kinds = set(ev.KINDS)

    def has_rows(view: str) -> bool:
        kind = schema.VIEW_ALIASES.get(view, view)
        return kind not in kinds or counts.get(kind, 0) > 0

    return [v for v in log.views() if v not in copies and has_rows(v)]


def export(
    path: Path | str, out: Path, overwrite: bool = False, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Write the log at `path` as Parquet files into the directory `out`; return the manifest.

    Raises:
        ConfigError: `out` exists (without `overwrite`, or is not an earlier export), or cannot be written.
        clearing.errors.EventLogError / VerificationError: the log is unreadable or fails verification.
    """
    _, pa = libraries()
    import pyarrow.parquet as pq

    _check_target(out, overwrite)
    partial = out.with_name(out.name + ".partial")
    with Log(path) as log:
        fold_log(log.reader, apply_events=False)  # the whole chain, on the snapshot exported
        views = exported_views(log)
        total = sum(log.kinds().values())
        manifest: dict[str, Any] = {"log": str(Path(path)), "run_id": log.header.run_id,
                                    "head_hash": log.header.head_hash, "events": log.header.events, "views": {}}  # fmt: skip
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(parents=True)
            header = {k: [v] for k, v in asdict(log.header).items()}
            pq.write_table(pa.table(header), partial / "run.parquet")
            done = 0
            for view in views:
                rows = 0
                writer = None
                try:
                    for table in log.batches(view):
                        if writer is None:
                            writer = pq.ParquetWriter(partial / f"{view}.parquet", table.schema, compression="zstd")
                        writer.write_table(table)
                        rows += table.num_rows
                        if progress and view in log.kinds():
                            progress(done + rows, total)
                    if writer is None:  # an empty view: its columns, no rows
                        pq.write_table(log.empty(view), partial / f"{view}.parquet")
                finally:
                    if writer is not None:
                        writer.close()
                manifest["views"][view] = rows
                done += rows if view in log.kinds() else 0
            (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            if out.exists():
                shutil.rmtree(out)
            partial.replace(out)
        except OSError as e:
            raise ConfigError(f"--to {out}: cannot write ({e.strerror or e})") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return manifest


def _check_target(out: Path, overwrite: bool) -> None:
    if not out.parent.is_dir():
        raise ConfigError(f"--to {out}: no such directory {out.parent}")
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--to {out}: exists and is not a directory")
        if any(out.iterdir()):
            if not (out / MANIFEST).is_file():
                raise ConfigError(f"--to {out}: a directory that is not an earlier export; choose another")
            if not overwrite:
                raise ConfigError(f"--to {out}: exists; pass --overwrite to replace it")
