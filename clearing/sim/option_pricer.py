"""Option markets' prices: the index and mark of each option, from its underlying and the surface.

An option market has no exogenous path and no oracle of its own: its oracle is its
underlying's plus the volatility surface (issue 13). Every step the pricer reads the
underlying's index and valuation price and the surface, and emits the option's model value
(`clearing.core.options.marks.model_price_ticks`) as its `index_price_updated` (at the
underlying's index) and `mark_price_updated` (method "model", at the underlying's mark or
oracle), each when it changes. Makers quote around the index; margin reads the mark.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from decimal import Decimal
from typing import Any

import simpy

from clearing import events as ev
from clearing.core.options.marks import model_price_ticks
from clearing.sim.bus import EventBus
from clearing.sim.causes import Latest
from clearing.sim.clock import Clock
from clearing.units import NS_PER_S


def option_pricer_process(
    env: Clock, bus: EventBus, market: int, latest: Latest, on_mark: Callable[[int, int], None], step_ns: int = NS_PER_S
) -> Generator[simpy.Event, Any, None]:
    """Reprice option `market` every `step_ns` until its expiry, once its underlying has a price and a surface."""
    s = bus.state
    contract = s.contracts[market]
    underlying = contract.underlying
    terms = (Decimal(s.markets[underlying].tick_size), Decimal(contract.strike), Decimal(s.markets[market].tick_size),
             contract.option_type == "call")  # fmt: skip
    while env.now < contract.expiry_ns:
        surface = s.surfaces.get(underlying)
        index = int(s.index_ticks[underlying])
        if surface is not None and index > 0 and env.now < surface.expiries_ns[0]:
            price = model_price_ticks(surface, env.now, contract.expiry_ns, index, *terms)
            if price != s.index_ticks[market]:
                causes = tuple(sorted({*latest.of_index(underlying), *latest.surfaces.get(underlying, ())}))
                latest.index[market] = bus.emit(ev.IndexPriceUpdated(ts_ns=env.now, causes=causes, market=market,
                                                                     price_ticks=price))  # fmt: skip
            reference = int(s.mark_ticks[underlying]) or int(s.oracle_ticks[underlying]) or index
            mark = model_price_ticks(surface, env.now, contract.expiry_ns, reference, *terms)
            if mark != s.mark_ticks[market]:
                causes = tuple(sorted({*latest.of_oracle(underlying), *latest.surfaces.get(underlying, ())}))
                seq = bus.emit(ev.MarkPriceUpdated(ts_ns=env.now, causes=causes, market=market, price_ticks=mark,
                                                   index_ticks=reference, method="model"))  # fmt: skip
                on_mark(market, seq)
        yield env.timeout(step_ns)
