"""Option markets' prices: the index and mark of every option on one underlying, from it and the surface.

An option market has no exogenous path and no oracle of its own: its oracle is its
underlying's plus the volatility surface (issue 13). Every step the pricer reads the
underlying's index and valuation price and the surface, prices all the underlying's live
options in one vectorised call (`clearing.core.options.marks.model_prices_ticks`) at both,
and emits each option's `mark_price_updated` (method "model", at the underlying's mark, its
oracle before the first mark) when it changed; margin reads the mark. The value at the
underlying's index is what the option's makers quote around (`Latest.model`, the shell's
bookkeeping: each maker's `quotes_replaced` records it as `reference_ticks`). An option market
has no index of its own, as at the venues, which publish an option's mark and its
underlying's index.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import simpy

from clearing import events as ev
from clearing.core.options.marks import OptionSeries, model_prices_ticks
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.units import NS_PER_S


def option_pricer_process(
    env: Clock, bus: EventBus, underlying: int, markets: Sequence[int], latest: Latest, on_mark: Callable[[int, int], None],
    step_ns: int = NS_PER_S,
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    """Reprice the option `markets` on `underlying` every `step_ns`, each until its expiry."""
    s = bus.state
    tick = Decimal(s.markets[underlying].tick_size)
    live: list[int] = []
    while True:
        alive = [m for m in markets if env.now < s.contracts[m].expiry_ns]
        if not alive:
            return
        if alive != live:  # the series change only when an expiry passes
            live = alive
            contracts = [s.contracts[m] for m in live]
            series = OptionSeries.of([c.expiry_ns for c in contracts], [Decimal(c.strike) for c in contracts],
                                     [Decimal(s.markets[m].tick_size) for m in live],
                                     [c.option_type == "call" for c in contracts]).twice()  # fmt: skip
        surface = s.surfaces.get(underlying)
        index = int(s.index_ticks[underlying])
        if surface is not None and index > 0 and env.now < surface.expiries_ns[0]:
            reference = int(s.mark_ticks[underlying]) or int(s.oracle_ticks[underlying]) or index
            n = len(live)
            prices = model_prices_ticks(surface, env.now, np.repeat(np.array([index, reference], np.int64), n), tick,
                                        series).tolist()  # fmt: skip
            surface_causes = latest.surfaces.get(underlying, ())
            for market, value, mark in zip(live, prices[:n], prices[n:], strict=True):
                latest.model[market] = value  # what the option's makers quote around
                if mark != s.mark_ticks[market]:
                    causes = tuple(sorted({*latest.of_oracle(underlying), *latest.of_index(underlying), *surface_causes}))
                    seq = bus.emit(ev.MarkPriceUpdated(ts_ns=env.now, causes=causes, market=market, price_ticks=mark,
                                                       index_ticks=reference, method="model"))  # fmt: skip
                    on_mark(market, seq)
        yield env.timeout(step_ns)
