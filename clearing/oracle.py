"""Oracle publication rules: when a push oracle publishes what it observed.

Pure functions: inputs are the last publication and the observation, output the reason to
publish (or None). The SimPy shell (`clearing.sim.oracle_feed`) supplies times and latency.
"""

from __future__ import annotations

from clearing.units import PPM


def publication_reason(
    last_price_ticks: int,
    last_published_ns: int,
    price_ticks: int,
    now_ns: int,
    deviation_ppm: int,
    heartbeat_ns: int,
) -> str | None:
    """Return why a push oracle publishes now ("initial", "deviation", "heartbeat") or None.

    Chainlink rule: a new round when the observed price differs from the last published
    one by MORE than the deviation threshold, |p - p_last| / p_last > deviation, or when
    the heartbeat has elapsed, now - t_last >= heartbeat. Compared exactly in integers as
    |p - p_last| x 10^6 > deviation_ppm x p_last. Deviation wins when both hold.
    """
    if last_price_ticks <= 0:
        return "initial"
    if abs(price_ticks - last_price_ticks) * PPM > deviation_ppm * last_price_ticks:
        return "deviation"
    if now_ns - last_published_ns >= heartbeat_ns:
        return "heartbeat"
    return None
