"""Decoder files (safetensors, no pickle) and held-out decoding scores.

A decoder file holds the state dict plus string metadata: the class name, its
constructor arguments (JSON) and the caller's metadata (JSON), so
:func:`load_decoder` rebuilds the module from its config and loads the weights
without unpickling anything.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .. import __version__
from ..atomic import atomic_path
from ..stats import rowwise_pearson, two_way_identification
from ..devices import resolve_device
from .layers import RidgeDecoder
from .semantic import SemanticExtractor
from .structural import StructuralGenerator

logger = logging.getLogger(__name__)

__all__ = ["DECODER_CLASSES", "decoding_scores", "load_decoder", "read_decoder_metadata", "save_decoder"]

DECODER_CLASSES: dict[str, type[RidgeDecoder]] = {cls.__name__: cls for cls in (StructuralGenerator, SemanticExtractor)}


def save_decoder(model: RidgeDecoder, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``model``'s weights, class, config and JSON-able ``metadata`` to a safetensors file (atomically)."""
    name = type(model).__name__
    if name not in DECODER_CLASSES:
        raise ValueError(f"cannot save a {name}; known decoder classes: {sorted(DECODER_CLASSES)}")
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    header = {
        "class": name,
        "config": json.dumps(model.config),
        "metadata": json.dumps(metadata or {}),
        "nsdrecon_version": __version__,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    logger.info("saved %s (%d parameters) to %s", name, sum(v.numel() for v in tensors.values()), path)


def _header(path: Path) -> dict[str, str]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such decoder file")
    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    missing = [key for key in ("class", "config", "metadata") if key not in header]
    if missing:
        raise ValueError(f"{path}: not a decoder file written by save_decoder (metadata lacks {missing})")
    return header


def read_decoder_metadata(path: str | Path) -> dict:
    """The ``metadata`` dict given to :func:`save_decoder`."""
    return json.loads(_header(Path(path))["metadata"])


def load_decoder(path: str | Path, device: str | torch.device = "cpu") -> RidgeDecoder:
    """Rebuild a decoder saved by :func:`save_decoder`, on ``device``, in eval mode."""
    path = Path(path)
    header = _header(path)
    if header["class"] not in DECODER_CLASSES:
        raise ValueError(f"{path}: unknown decoder class {header['class']!r}; known: {sorted(DECODER_CLASSES)}")
    config = json.loads(header["config"])
    model = DECODER_CLASSES[header["class"]](**config)
    device = resolve_device(device)
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model.to(device).eval()


def decoding_scores(Y_true: np.ndarray, Y_pred: np.ndarray) -> dict[str, float]:
    """Held-out decoding accuracy of predicted features.

    Parameters
    ----------
    Y_true, Y_pred : arrays of shape (n_samples, ...)
        Further axes are flattened to (n_samples, n_targets).

    Returns
    -------
    dict with
        ``pearson_r``: mean over targets of the Pearson correlation across
        samples (constant targets skipped);
        ``two_way_identification``: ``nsd.md`` §6a in feature space (mean over
        predictions of the fraction of other samples' true features less
        correlated with the prediction than its own);
        ``mse``: mean squared error.
    """
    Y_true = np.asarray(Y_true).reshape(len(Y_true), -1)
    Y_pred = np.asarray(Y_pred).reshape(len(Y_pred), -1)
    if Y_true.shape != Y_pred.shape:
        raise ValueError(f"true and predicted features differ in shape: {Y_true.shape} vs {Y_pred.shape}")
    per_target = rowwise_pearson(Y_true.T, Y_pred.T)
    return {
        "pearson_r": float(np.nanmean(per_target)),
        "two_way_identification": float(two_way_identification(Y_true, Y_pred).mean()),
        "mse": float(np.mean((Y_true.astype(np.float64) - Y_pred) ** 2)),
    }
