"""The validation table: each crash day's run beside what was reported, with its sources and the two targets.

Targets (issue 17): the simulated liquidation peak within `PEAK_MINUTES` of the real one, and
the liquidated share of open interest within a factor of `SHARE_FACTOR` of the reported one.
The share is the notional liquidated within the day's `share_window` over the open interest at
the run's start (the whole market's: every long position, which is every short). Reported
figures cite docs/references.md by id; the table links them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from clearing.apps.validate.metrics import DayMetrics, minutes_apart, share_in, utc_minute
from clearing.errors import ConfigError

if TYPE_CHECKING:
    from clearing.apps.validate import Reported

PEAK_MINUTES = 15
SHARE_FACTOR = 2.0
BEGIN = "<!-- clearing validate: begin (generated; do not edit by hand) -->"
END = "<!-- clearing validate: end -->"


def money(x: float) -> str:
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _cited(text: str) -> str:
    # "[rep-2021-binance]" -> a link to its entry in docs/references.md
    return re.sub(r"\[([a-z0-9-]+)\]", r"[\1](references.md#\1)", text)


def peak_apart(day: Reported, m: DayMetrics) -> float | None:
    """Return the minutes between the simulated peak and the real one (its reported span: 0 inside it)."""
    if day.peak_window is None or not m.peak_utc:
        return minutes_apart(m.peak_utc, day.peak_utc)
    start, end = day.peak_window
    at = utc_minute(m.peak_utc)
    if start <= at <= end:
        return 0.0
    return min(abs((at - start) / timedelta(minutes=1)), abs((at - end) / timedelta(minutes=1)))


def verdicts(pairs: list[tuple[Reported, DayMetrics]]) -> list[tuple[bool, bool]]:
    """Return per day (peak within PEAK_MINUTES, share within a factor of SHARE_FACTOR)."""
    out = []
    for day, m in pairs:
        apart = peak_apart(day, m)
        share = share_in(m, day.share_window)
        ratio = share / day.share if share > 0 else float("inf")
        out.append((apart is not None and apart <= PEAK_MINUTES, 1 / SHARE_FACTOR <= ratio <= SHARE_FACTOR))
    return out


def markdown(pairs: list[tuple[Reported, DayMetrics]], heading: str = "") -> str:
    """Return the comparison as markdown: one row per day, the targets' tally, then each day's reported sources."""
    lines = [heading] if heading else []
    lines += [
        "| day | liquidation peak: simulated | real | apart | liquidated / open interest: simulated | reported | "
        "fund draw: simulated | ADL: simulated | funding: mean / largest abs difference, same sign | "
        "mark vs tape: mean / max abs error per minute |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    marks = verdicts(pairs)
    for (day, m), (peak_ok, share_ok) in zip(pairs, marks, strict=True):
        apart = peak_apart(day, m)
        real = (f"{day.peak_window[0].strftime('%m-%d %H:%M')}-{day.peak_window[1].strftime('%H:%M')}" if day.peak_window
                else day.peak_utc.strftime("%m-%d %H:%M"))  # fmt: skip
        share = share_in(m, day.share_window)
        f = m.funding
        funding = (f"{f['mean_abs_difference_ppb'] / 1e7:.4f} / {f['max_abs_difference_ppb'] / 1e7:.4f} %, "
                   f"{f['same_sign']} of {f['compared']}") if f and f.get("compared") else "none compared"  # fmt: skip
        lines.append(
            f"| {day.name} | {m.peak_utc[5:].replace('T', ' ').replace('Z', '')} ({money(m.peak_notional)}, "
            f"{m.peak_liquidations} liquidations) | {real} | "
            f"{'-' if apart is None else f'{apart:.0f} min'} {'✓' if peak_ok else '✗'} | "
            f"{share * 100:.2f} % ({money(share * m.open_interest)} of {money(m.open_interest)}) | "
            f"{day.share * 100:.2f} % {'✓' if share_ok else '✗'} | {money(m.fund_draw)} of {money(m.fund_seed)} | "
            f"{money(m.adl_notional)} | {funding} | {m.mark_error_mean * 100:.3f} % / {m.mark_error_max * 100:.2f} % |"
        )
    peaks, shares = sum(p for p, _s in marks), sum(s for _p, s in marks)
    lines += [
        "",
        f"Targets: the peak within {PEAK_MINUTES} minutes of the real one on {peaks} of {len(pairs)} days (target: 4 of "
        f"5); the liquidated share within a factor of {SHARE_FACTOR:g} of the reported one on {shares} of {len(pairs)} "
        "(target: 3 of 5).",
        "",
        "The share is the notional liquidated within the day's window over the open interest at the run's start, the "
        "whole market's (every long position, which is every short), valued at the first price.",
        "",
        "What was reported, and where:",
        "",
    ]
    for day, _m in pairs:
        lines.append(f"- **{day.name}**. Peak: {_cited(day.peak_basis)}. Share: {_cited(day.share_basis)}. "
                     f"Fund: {_cited(day.fund_draw)}. ADL: {_cited(day.adl)}.")  # fmt: skip
    return "\n".join(lines) + "\n"


def markers(block: str = "") -> tuple[str, str]:
    """Return the begin and end markers of a generated block ("": the validation table; "sensitivity": the tornado)."""
    if not block:
        return BEGIN, END
    begin = f"<!-- clearing validate {block}: begin (generated; do not edit by hand) -->"
    return begin, f"<!-- clearing validate {block}: end -->"


def update_doc(path: Path, table: str, block: str = "") -> None:
    """Replace the generated block of `path` (between its markers, `markers(block)`) with `table`.

    Raises:
        ConfigError: the file has no such block.
    """
    begin, end = markers(block)
    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise ConfigError(f"{path}: no block between {begin!r} and {end!r} to write the table into")
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{table}{end}{tail}", encoding="utf-8")
