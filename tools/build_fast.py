"""Build the mypyc-compiled tree of `clearing` (the "fast" build) into a directory.

    python tools/build_fast.py build/fast

Copies the package, then compiles its hot modules (the book, the reducers and the state,
the event bus and the log writer, the agents and the SimPy processes of the exchange) with
mypyc into C extensions next to their sources; Python imports an extension before a source
of the same name. Put the directory first on PYTHONPATH to run it:
`PYTHONPATH=build/fast python -P -m clearing run ...` (`-P`: the current directory's sources are not
put first on the path). The logs are byte-identical to the pure
build's (decision 0012). The directory's SOURCE_HASH names the sources it was built from;
`source_hash()` tells a stale tree.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Hot, type-checked modules with no pydantic models or msgspec Structs defined in them.
COMPILED = (
    "core/book.py", "core/state/state.py", "core/state/apply.py", "core/mark.py", "core/funding.py",
    "core/oracle/params.py", "core/oracle/aggregation.py", "core/oracle/sources.py", "core/oracle/rounds.py",
    "core/oracle/publication.py", "core/oracle/delivery.py", "core/oracle/guards.py",
    "core/agents/market_maker.py", "core/agents/noise.py", "core/agents/arbitrageur.py",
    "core/state/reducers/checks.py", "core/state/reducers/ledger.py", "core/state/reducers/orders.py",
    "core/state/reducers/prices.py", "core/state/reducers/funding.py", "core/state/reducers/collateral.py",
    "core/state/reducers/margin.py",
    "log/writer.py",
    "sim/bus.py", "sim/causes.py", "sim/exchange.py", "sim/market_maker.py", "sim/oracle_feed.py", "sim/takers.py",
    "sim/mark_clock.py", "sim/price_feed.py", "sim/margin_monitor.py",
)  # fmt: skip


def source_hash(package: Path = ROOT / "clearing") -> str:
    """Return the SHA-256 over every source file of the package (path and contents, sorted)."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def build(out: Path) -> None:
    """Copy the package into `out` and compile `COMPILED` there."""
    from mypyc.build import mypycify
    from setuptools import setup

    out = out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(ROOT / "clearing", out / "clearing", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    modules = [f"clearing/{m}" for m in COMPILED]
    temp = out.parent / f"{out.name}-temp"
    setup(
        name="clearing-fast",
        script_args=["--quiet", "build_ext", "--build-lib", str(out), "--build-temp", str(temp)],
        ext_modules=mypycify(modules, opt_level="3", target_dir=str(temp)),
    )
    shutil.rmtree(temp, ignore_errors=True)
    (out / "SOURCE_HASH").write_text(source_hash() + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/build_fast.py OUT_DIR")
    import os

    os.chdir(ROOT)  # mypycify takes paths relative to the repository
    build(Path(sys.argv[1]))
    sys.stdout.write(f"fast build: {sys.argv[1]} ({len(COMPILED)} modules compiled)\n")
