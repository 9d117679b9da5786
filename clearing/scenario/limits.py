"""What a run can hold before it starts: money within int64, and memory within the machine.

Money is int64 minor units throughout; a lot's value is multiplied by lots, rates and
scenario factors, and float64 (option pricing, ppm rates) must carry it exactly, so one lot
at the initial price must stay below 2^53 minor units. The exogenous index is sampled once per
step for the whole run; with a 1 ms step over 30 days that is 2.6 billion samples a market.
Both are refused before anything is written, with the numbers in the message.
"""

from __future__ import annotations

import os

from clearing.errors import ConfigError
from clearing.scenario.params import RunParams

LOT_VALUE_LIMIT = 2**53  # quote minor units: one lot at the initial price
BYTES_PER_SAMPLE = 24  # the index path's samples: ticks, times and the bridge's work arrays (int64 / float64 each)


def check_limits(params: RunParams, memory_bytes: int | None = None) -> None:
    """Refuse a run whose money would overflow int64 arithmetic or whose index paths would not fit in memory.

    `memory_bytes`: the machine's memory (default: physical memory, from the OS).

    Raises:
        ConfigError: one line naming the market or setting, the estimate and the limit.
    """
    for m in params.markets:
        lot = m.index_path.initial_ticks * m.unit_value
        if lot >= LOT_VALUE_LIMIT:
            raise ConfigError(f"{m.symbol}: one lot is worth {lot:.3g} quote minor units at the initial price; the "
                              f"engine's integers need less than {LOT_VALUE_LIMIT:.3g}: lower the price, lot_size or "
                              "quote_decimals")  # fmt: skip
    samples = sum(params.duration_ns // max(m.index_path.step_ns, 1) + 1 for m in params.markets)
    need = samples * BYTES_PER_SAMPLE
    have = memory_bytes if memory_bytes is not None else _physical_memory()
    if have and need > have // 2:
        raise ConfigError(f"the index paths need about {need / 2**30:.1f} GiB ({samples:,} samples over "
                          f"{params.duration_ns / 86_400e9:.3g} days at the markets' price.step_ms), more than half of this "
                          f"machine's {have / 2**30:.1f} GiB: raise price.step_ms or shorten duration_s")  # fmt: skip


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0
