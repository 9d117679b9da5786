"""The mark clock: the mark price on a cadence, for the methods that blend the oracle with the book.

Every interval it samples the basis (mid - oracle price) into the window, calls the
method's rule (`clearing.core.mark.mark_rule`) and emits `mark_price_updated` when the mark
changes. The window of samples and the smoothed basis are the clock's bookkeeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.mark import MarkParams, basis_sample, basis_window_length, mark_rule
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock


def mark_process(
    env: Clock, bus: EventBus, market: int, params: MarkParams, latest: Latest, on_mark: Callable[[int, int], None]
) -> Generator[simpy.Event, Any, None]:
    """Recompute the mark every interval (once an oracle price is visible); emit and check margin when it changes."""
    s = bus.state
    rule = mark_rule(params.method)
    method = params.method.value
    samples: deque[int] = deque(maxlen=basis_window_length(params))
    smoothed = 0
    while True:
        yield env.timeout(params.interval_ns)
        index = int(s.oracle_ticks[market])
        if index <= 0:
            continue
        samples.append(basis_sample(s.books[market].mid(), index))
        price, smoothed = rule.step(
            params, index, samples, smoothed, int(s.last_trade_ticks[market]), int(s.funding_rate_ppb[market]), env.now
        )
        if price != s.mark_ticks[market]:
            # The oracle, the book's mid (its quotes and the fills since), and for the median the last trade.
            last = latest.of_last(market) if rule.reads_last_trade else ()
            causes = tuple(sorted({*latest.of_oracle(market), *latest.of_mid(market), *last}))
            seq = bus.emit(
                ev.MarkPriceUpdated(
                    ts_ns=env.now, causes=causes, market=market, price_ticks=price, index_ticks=index, method=method
                )
            )
            on_mark(market, seq)
