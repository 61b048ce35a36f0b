"""Seeded construction of random networks that leaves torch's global random state alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

__all__ = ["component_seed", "seeded"]

T = TypeVar("T")


def component_seed(seed: int, index: int) -> int:
    """A seed for part ``index`` of something seeded by ``seed`` (independent of the other parts)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def seeded(build: Callable[[], T], seed: int) -> T:
    """``build()`` under a private RNG state seeded with ``seed`` (CPU generator; the global state is restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
