"""Named random generators derived from one run seed.

Every random draw in a run comes from a generator returned here, passed explicitly to the
code that needs it. Names map to independent streams whatever order they are asked for in.
Never use the global numpy or stdlib RNG, or a seed taken from the clock.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def generator(seed: int, name: str) -> np.random.Generator:
    """Return the generator of component `name` for run `seed`.

    The stream depends only on (seed, name): adding a component never shifts another's.
    """
    if seed < 0:
        raise ValueError(f"expected a seed >= 0, was {seed}")
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(_name_key(name),))
    return np.random.Generator(np.random.PCG64(sequence))
