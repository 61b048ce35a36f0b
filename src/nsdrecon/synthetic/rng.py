"""Independent random streams of a generated world, each fixed by the world's seed and a purpose key."""

from __future__ import annotations

import numpy as np

__all__ = ["stream_rng"]


def stream_rng(seed: int, *key: int) -> np.random.Generator:
    """A numpy generator for the stream ``key`` (e.g. purpose, subject) of something seeded by ``seed``.

    Streams never share draws, so adding a subject or a purpose leaves every other stream unchanged.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))
