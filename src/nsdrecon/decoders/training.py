"""Fine-tuning of ridge-initialised decoders with early stopping on a validation split.

Epoch 0 is the ridge-initialised model itself.  The weights returned are those
of the epoch with the lowest validation score (``select_by``), ties going to
the earlier epoch, so a fine-tuning that never beats the ridge initialisation
returns the ridge initialisation unchanged and validation error can only
improve on ridge.  To keep that comparison honest, fit the ridge on the
training part of :func:`validation_split` only (same ``val_fraction`` and
``seed`` as given to :func:`train_decoder`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_path
from ..devices import resolve_device
from ..ridge import sample_labels
from .layers import RidgeDecoder

logger = logging.getLogger(__name__)

__all__ = ["SELECT_BY", "TrainResult", "train_decoder", "validation_split"]

SELECT_BY = ("val_mse", "val_loss")


@dataclass
class TrainResult:
    """Outcome of :func:`train_decoder`.

    Attributes
    ----------
    model : RidgeDecoder
        The decoder with the weights of ``best_epoch``, in eval mode, on the training device.
    history : pandas.DataFrame
        One row per epoch (0 = ridge initialisation): epoch, train_loss (NaN at
        epoch 0), val_loss, val_mse.
    ridge_val_mse : float
        Validation MSE of the ridge-initialised model.
    best_epoch : int
    """

    model: RidgeDecoder
    history: pd.DataFrame
    ridge_val_mse: float
    best_epoch: int


def validation_split(
    n_samples: int, val_fraction: float, seed: int, sample_groups: Sequence | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, validation) sample indices; ``round(val_fraction * n)`` (at least 1) go to validation.

    With ``sample_groups`` (e.g. the NSD image of each single trial) whole
    groups are split, ``round(val_fraction * n_groups)`` of them to validation,
    so no image is in both parts.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    labels = np.arange(n_samples) if sample_groups is None else sample_labels(sample_groups, n_samples)
    n_groups = int(labels.max()) + 1
    n_val = max(1, int(round(val_fraction * n_groups)))
    if n_val >= n_groups:
        raise ValueError(f"val_fraction={val_fraction} leaves no training samples out of {n_groups} groups")
    in_val = np.zeros(n_groups, dtype=bool)
    in_val[np.random.default_rng(seed).permutation(n_groups)[:n_val]] = True
    return np.flatnonzero(~in_val[labels]), np.flatnonzero(in_val[labels])


def _as_tensors(
    model: RidgeDecoder, X, Y: Mapping[str, np.ndarray], target_rows
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """X, the targets as tensors of their declared shapes, and the target row of each sample."""
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if X.ndim != 2 or X.shape[1] != model.x_mean.shape[0]:
        raise ValueError(f"X_train must have shape (n_samples, {model.x_mean.shape[0]}), got {tuple(X.shape)}")
    if set(Y) != set(model.target_shapes):
        raise ValueError(f"Y_train must hold targets {sorted(model.target_shapes)}, got {sorted(Y)}")
    rows = torch.arange(len(X)) if target_rows is None else torch.as_tensor(np.asarray(target_rows, dtype=np.int64))
    if rows.shape != (len(X),):
        raise ValueError(f"target_rows must have shape ({len(X)},) (one row per sample), got {tuple(rows.shape)}")
    n_rows = int(rows.max()) + 1
    tensors = {}
    for name, shape in model.target_shapes.items():
        target = np.asarray(Y[name], dtype=np.float32)
        rows_ok = len(target) == len(X) if target_rows is None else len(target) >= n_rows
        if not rows_ok or target[0].size != np.prod(shape):
            raise ValueError(
                f"target {name!r} must have shape ({n_rows}, {', '.join(map(str, shape))}), got {target.shape}"
            )
        tensors[name] = torch.as_tensor(target.reshape(len(target), *shape))
    return X, tensors, rows


def _batch_targets(Y: dict[str, torch.Tensor], rows: torch.Tensor, idx: torch.Tensor, device) -> dict[str, torch.Tensor]:
    return {k: v[rows[idx]].to(device) for k, v in Y.items()}


def _batches(indices: torch.Tensor, batch_size: int):
    for start in range(0, len(indices), batch_size):
        yield indices[start : start + batch_size]


@torch.no_grad()
def _evaluate(model, X, Y, rows, indices, batch_size, device) -> tuple[float, float]:
    """Validation (loss, mse), averaged over samples."""
    model.eval()
    total_loss = total_mse = 0.0
    for idx in _batches(indices, batch_size):
        pred = model(X[idx].to(device))
        loss, parts = model.loss(pred, _batch_targets(Y, rows, idx, device))
        total_loss += loss.item() * len(idx)
        total_mse += parts["mse"].item() * len(idx)
    return total_loss / len(indices), total_mse / len(indices)


def _write_history(history: list[dict], log_path: str | Path | None) -> pd.DataFrame:
    frame = pd.DataFrame(history, columns=["epoch", "train_loss", "val_loss", "val_mse"])
    if log_path is not None:
        with atomic_path(log_path) as tmp:
            frame.to_csv(tmp, sep="\t", index=False, float_format="%.8g", na_rep="nan")
    return frame


def train_decoder(
    model: RidgeDecoder,
    X_train: np.ndarray,
    Y_train: Mapping[str, np.ndarray],
    *,
    val_fraction: float = 0.1,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-4,
    weight_decay: float = 1e-2,
    seed: int = 0,
    device: str | torch.device = "auto",
    patience: int | None = None,
    select_by: str = "val_mse",
    log_path: str | Path | None = None,
    sample_groups: Sequence | None = None,
    target_rows: Sequence[int] | np.ndarray | None = None,
) -> TrainResult:
    """Fine-tune ``model`` with AdamW, keeping the weights of the best validation epoch.

    Parameters
    ----------
    model : RidgeDecoder
        E.g. ``StructuralGenerator.from_ridge(...)``; trained in place.
    X_train : array of shape (n_samples, n_voxels)
    Y_train : mapping name -> array of shape (n_samples, *model.target_shapes[name])
        Flattened targets (n_samples, prod(shape)) are accepted too; with
        ``target_rows``, one row per distinct image instead of per sample.
    val_fraction : float
        Share of samples held out for validation (:func:`validation_split`).
    epochs, batch_size, lr, weight_decay : optimisation settings.
    seed : int
        Seeds the split, the batch order and dropout.
    device : str or torch.device, default="auto"
    patience : int, optional
        Stop after this many epochs without improvement; None runs all epochs.
    select_by : {"val_mse", "val_loss"}, default="val_mse"
        Validation quantity that picks the returned epoch.
    log_path : path, optional
        TSV of the history, rewritten (atomically) after every epoch.
    sample_groups : sequence of shape (n_samples,), optional
        Image of each sample; the validation split keeps an image's trials together.
    target_rows : sequence of int of shape (n_samples,), optional
        Row of ``Y_train`` holding each sample's targets (default: row i), so
        single trials of one image share one copy of its targets.
    """
    if select_by not in SELECT_BY:
        raise ValueError(f"select_by must be one of {SELECT_BY}, got {select_by!r}")
    device = resolve_device(device)
    X, Y, rows = _as_tensors(model, X_train, Y_train, target_rows)
    train_idx, val_idx = (torch.as_tensor(i) for i in validation_split(len(X), val_fraction, seed, sample_groups))
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    val_loss, val_mse = _evaluate(model, X, Y, rows, val_idx, batch_size, device)
    history = [{"epoch": 0, "train_loss": np.nan, "val_loss": val_loss, "val_mse": val_mse}]
    _write_history(history, log_path)
    ridge_val_mse = val_mse
    best = {"val_loss": val_loss, "val_mse": val_mse}[select_by]
    best_epoch, best_state, stale = 0, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, 0
    logger.info(
        "ridge initialisation: val_loss %.6g, val_mse %.6g (%d train / %d val)",
        val_loss,
        val_mse,
        len(train_idx),
        len(val_idx),
    )

    progress = tqdm(range(1, epochs + 1), desc=f"training {type(model).__name__}", disable=None)
    for epoch in progress:
        model.train()
        total = 0.0
        for idx in _batches(train_idx[torch.randperm(len(train_idx), generator=order)], batch_size):
            loss, _ = model.loss(model(X[idx].to(device)), _batch_targets(Y, rows, idx, device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        val_loss, val_mse = _evaluate(model, X, Y, rows, val_idx, batch_size, device)
        history.append({"epoch": epoch, "train_loss": total / len(train_idx), "val_loss": val_loss, "val_mse": val_mse})
        _write_history(history, log_path)
        progress.set_postfix(val_mse=f"{val_mse:.4g}")
        logger.info(
            "epoch %d: train_loss %.6g, val_loss %.6g, val_mse %.6g", epoch, total / len(train_idx), val_loss, val_mse
        )
        score = {"val_loss": val_loss, "val_mse": val_mse}[select_by]
        if score < best:
            best, best_epoch, stale = score, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if patience is not None and stale >= patience:
                logger.info("early stop after epoch %d: no improvement for %d epochs", epoch, patience)
                break

    model.load_state_dict(best_state)
    model.eval()
    logger.info("kept epoch %d (%s %.6g; ridge val_mse %.6g)", best_epoch, select_by, best, ridge_val_mse)
    return TrainResult(
        model=model, history=_write_history(history, None), ridge_val_mse=ridge_val_mse, best_epoch=best_epoch
    )
