"""Price discovery: the index as the outside fundamental plus the venue's own share of the moves.

Pure arithmetic of `[price_discovery]` (the SimPy process is `clearing.sim.price_feed.
discovered_index_process`). Hasbrouck's information share w of the venue: of each step's
innovation in the common price, w comes from the venue's own price V and 1 - w from the
outside fundamental F (the tape). Cross-venue arbitrage pulls the index back to the
fundamental with a half-life, so a move the venue alone made fades while one the outside
confirms stays. Source: docs/references.md [alexander-price-discovery].
"""

from __future__ import annotations


def next_index(level: float, fundamental: float, previous_fundamental: float, venue_move: float, weight: float,
               decay: float) -> float:  # fmt: skip
    """Return the index after one step: F' + (I + (1 - w) (F' - F) + w dV - F') x decay.

    `decay` = 2^(-step / half-life) in (0, 1]: 1 never reverts, 0 is the fundamental at once.
    With w = 0 and the index at the fundamental, the index is the fundamental.
    """
    moved = level + (1 - weight) * (fundamental - previous_fundamental) + weight * venue_move
    return fundamental + (moved - fundamental) * decay
