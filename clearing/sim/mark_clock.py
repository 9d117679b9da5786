"""Mark price on a cadence for the methods that blend the oracle with the book."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.mark import MarkParams, ema_step, median_mark
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock


def mark_process(
    env: Clock, bus: EventBus, market: int, params: MarkParams, latest: Latest, on_mark: Callable[[int, int], None]
) -> Generator[simpy.Event, Any, None]:
    """Recompute the mark every interval; emit and check margin when it changes.

    The basis sample is mid - oracle (0 when the book has no mid). "binance_median" uses
    the mean basis over the window; "ema_basis" an EMA with the window as time constant.
    """
    s = bus.state
    samples: deque[int] = deque(maxlen=max(1, params.basis_window_ns // params.interval_ns))
    ema = 0
    while True:
        yield env.timeout(params.interval_ns)
        index = int(s.oracle_ticks[market])
        if index <= 0:
            continue
        mid = s.books[market].mid()
        basis = mid - index if mid else 0
        if params.method == "ema_basis":
            ema = ema_step(ema, basis, params.interval_ns, params.basis_window_ns)
            price = max(1, index + ema)
        else:
            samples.append(basis)
            average = sum(samples) // len(samples)
            to_funding = params.funding_interval_ns - env.now % params.funding_interval_ns
            price = median_mark(
                index, int(s.funding_rate_ppb[market]), to_funding, params.funding_interval_ns, average,
                int(s.last_trade_ticks[market]),
            )  # fmt: skip
        if price != s.mark_ticks[market]:
            # The oracle, the book's mid (its quotes and the fills since), and for the median the last trade.
            last = latest.of("last", market) if params.method == "binance_median" else ()
            causes = tuple(sorted({*latest.of("oracle", market), *latest.of("mid", market), *last}))
            seq = bus.emit(
                ev.MarkPriceUpdated(
                    ts_ns=env.now, causes=causes, market=market, price_ticks=price, index_ticks=index, method=params.method
                )
            )
            on_mark(market, seq)
