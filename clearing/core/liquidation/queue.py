"""The liquidation queue's order: the key each breached account is queued under, by `QueuePriority`.

Lowest key first; ties by breach order (the breach's seq). Pure integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable

from clearing.core.liquidation.params import QueuePriority
from clearing.units import PPM

QueueKey = tuple[int, int]


def _fifo(_equity: int, _requirement: int, _notional: int, seq: int) -> QueueKey:
    return (seq, seq)


def _worst_health(equity: int, requirement: int, _notional: int, seq: int) -> QueueKey:
    return (equity * PPM // max(requirement, 1), seq)


def _largest(_equity: int, _requirement: int, notional: int, seq: int) -> QueueKey:
    return (-notional, seq)


# Each priority: (equity, requirement, notional, breach seq) -> queue key.
PRIORITIES: dict[QueuePriority, Callable[[int, int, int, int], QueueKey]] = {
    QueuePriority.FIFO: _fifo,
    QueuePriority.WORST_HEALTH: _worst_health,
    QueuePriority.LARGEST: _largest,
}


def queue_key(priority: QueuePriority, equity_minor: int, requirement_minor: int, notional_minor: int, seq: int) -> QueueKey:
    """Return the queue key (lowest first) of a breached account.

    fifo: (seq, seq), by breach. worst_health: (floor(equity x 10^6 / max(requirement,
    1)), seq), the health in ppm, lowest first. largest: (-notional, seq), largest first.
    """
    return PRIORITIES[priority](equity_minor, requirement_minor, notional_minor, seq)
