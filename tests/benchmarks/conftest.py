"""Print each benchmark's same-run ratio against its raw baseline at the end of `make bench`."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    session = getattr(terminalreporter.config, "_benchmarksession", None)
    benchmarks = getattr(session, "benchmarks", [])
    rows = [b for b in benchmarks if "ratio" in b.extra_info]
    if rows:
        terminalreporter.section("ratios against the raw baseline, same run (median [min-max])")
    for bench in rows:
        info = bench.extra_info
        rates = {k: v for k, v in info.items() if k.endswith("_rate")}
        shown = ", ".join(f"{k.removesuffix('_rate')} {v:,}/s" for k, v in rates.items())
        terminalreporter.write_line(
            f"{bench.name}: {info['ratio']:.3f} [{info['ratio_min']:.3f}-{info['ratio_max']:.3f}]  ({shown})"
        )
    for bench in benchmarks:
        if "sim_seconds_per_wall_second" in bench.extra_info:
            info = bench.extra_info
            terminalreporter.write_line(
                f"{bench.name}: {info['sim_seconds_per_wall_second']} simulated s per wall s, {info['events']:,} events"
            )
