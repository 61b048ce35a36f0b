"""The optimisation loop every tiny-model trainer shares: seeded batches, AdamW, cosine decay, progress."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["optimise"]

logger = logging.getLogger(__name__)


def optimise(
    params: Iterable[torch.nn.Parameter],
    loss_of_batch: Callable[[np.ndarray, torch.Generator], torch.Tensor],
    *,
    n_items: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
    weight_decay: float = 0.0,
    warmup: int = 50,
) -> list[float]:
    """Run ``steps`` AdamW steps on ``loss_of_batch(rows, generator)``; return the loss of every step.

    Batches are ``batch_size`` rows drawn without replacement from a fresh
    permutation of ``range(n_items)`` each epoch (numpy ``default_rng(seed)``);
    ``generator`` (seeded from ``seed``) is for the trainer's own noise. The
    learning rate warms up linearly over ``warmup`` steps, then decays on a
    cosine to 5 % of ``lr``. Deterministic for a given seed, torch version and
    thread count.
    """
    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    order, position = rng.permutation(n_items), 0
    losses = []
    bar = tqdm(range(steps), desc=desc, unit="step", disable=None)
    for step in bar:
        if position + batch_size > n_items:
            order, position = rng.permutation(n_items), 0
        rows = np.sort(order[position : position + batch_size])
        position += batch_size
        loss = loss_of_batch(rows, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4g}")
            logger.info("%s step %d/%d: loss %.4g", desc, step + 1, steps, np.mean(losses[-50:]))
    return losses
