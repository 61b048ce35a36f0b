"""Seeded construction of random networks that leaves torch's global random state alone."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch

__all__ = ["component_seed", "seeded", "torch_seed"]

T = TypeVar("T")


def component_seed(seed: int, index: int) -> int:
    """A seed for part ``index`` of something seeded by ``seed`` (independent of the other parts)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


@contextlib.contextmanager
def torch_seed(seed: int) -> Iterator[None]:
    """Draw from torch's CPU generator seeded with ``seed`` inside the block; the global state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def seeded(build: Callable[[], T], seed: int) -> T:
    """``build()`` under :func:`torch_seed` (a random network whose weights depend on ``seed`` only)."""
    with torch_seed(seed):
        return build()
