"""Stage ``train_decoder``: ridge per target, then the ridge-initialised stream decoder.

The ridge is fitted on the training part of a validation split (alpha by
cross-validation), without forming the voxels x targets weight matrix: its
test predictions come from the kernel form and the decoder's input projection
from its rank-``decoders.rank`` factors (:func:`nsdrecon.ridge.fit_ridge_low_rank`).
The decoder starts at the (rank-r) ridge solution and is fine-tuned with early
stopping on the held-out part, so it can only match or beat its start there.
Test-set predictions of both, and their held-out scores per decoding target
(mean Pearson r, two-way identification in feature space, MSE), are written
next to the decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ..atomic import write_text
from ..betas import load_betas
from ..decoders import (
    SemanticExtractor,
    StructuralGenerator,
    decoding_scores,
    save_decoder,
    train_decoder,
    validation_split,
)
from ..feature_files import read_features
from ..h5io import save_arrays
from ..devices import resolve_device
from ..ridge import RowSubset, fit_ridge_low_rank
from ..settings import DecoderTraining, RidgeFit

logger = logging.getLogger(__name__)

# Which decoding targets each HAVIR stream predicts, and the decoder output name of each.
STREAM_TARGETS = {"structural": ["vae_latent"], "semantic": ["clip_image", "clip_text"]}
OUTPUT_NAME = {"vae_latent": "latent", "clip_image": "image", "clip_text": "text"}


def run_train_decoder(
    *, betas, features, stream: str, targets: list[str], ridge: RidgeFit, training: DecoderTraining,
    device: str, target_block: int, outputs: Mapping[str, str],
) -> None:
    """Fit, fine-tune and score the ``stream`` decoder; write model, predictions, scores, history.

    ``outputs``: ``model``, ``predictions``, ``scores`` and ``history`` paths. ``device`` and
    ``target_block`` say how to compute, not what (the job's resources).
    """
    if sorted(targets) != sorted(STREAM_TARGETS[stream]):
        raise ValueError(f"the {stream} decoder predicts {STREAM_TARGETS[stream]}; config decoders.streams gives {targets}")
    dev = resolve_device(device)
    X, train_ids = load_betas(betas, stream, "train")
    X_test, test_ids = load_betas(betas, stream, "test")
    # one copy of each image's targets: single trials repeat images, and the CLIP tokens of one are 790 kB
    images, target_rows = np.unique(train_ids, return_inverse=True)
    Y = read_features(features, targets, images)
    Y_test = read_features(features, targets, test_ids)
    logger.info("%s: %d train rows of %d images, %d test images, %d voxels", stream, len(X), len(images), len(X_test), X.shape[1])

    # single trials repeat images: the split and the ridge's folds keep an image's trials together
    fit_idx, _ = validation_split(len(X), training.val_fraction, training.seed, train_ids)
    fits = {
        t: fit_ridge_low_rank(
            X[fit_idx], RowSubset(Y[t].reshape(len(images), -1), target_rows[fit_idx]), ridge.alphas,
            rank=training.rank, X_test=X_test, cv=ridge.cv_splits, alpha_per=ridge.alpha_per,
            restandardize_predictions=ridge.restandardize_predictions, target_block=target_block,
            device=dev, seed=training.seed, sample_groups=train_ids[fit_idx],
        )
        for t in targets
    }  # fmt: skip
    kwargs = training.model_dump(include={"rank", "hidden", "n_blocks", "dropout", "seed"})
    if stream == "structural":
        model = StructuralGenerator.from_ridge(
            fits["vae_latent"], Y["vae_latent"].shape[1:], device=dev, sobel_weight=training.sobel_weight, **kwargs
        )
    else:
        model = SemanticExtractor.from_ridge(
            fits["clip_image"], fits["clip_text"], Y["clip_image"].shape[1:], Y["clip_text"].shape[1:],
            device=dev, contrastive_weight=training.contrastive_weight, **kwargs,
        )
    result = train_decoder(
        model, X, {OUTPUT_NAME[t]: Y[t] for t in targets},
        val_fraction=training.val_fraction, epochs=training.epochs, batch_size=training.batch_size,
        lr=training.lr, weight_decay=training.weight_decay, seed=training.seed, device=dev,
        log_path=outputs["history"], sample_groups=train_ids, target_rows=target_rows,
    )
    predicted = predict(result.model, X_test, dev)
    rows, arrays = [], {"nsd_id": test_ids}
    for t in targets:
        ridge_pred = fits[t].test_predictions.reshape(Y_test[t].shape)
        arrays[t] = predicted[OUTPUT_NAME[t]]
        arrays[f"{t}_ridge"] = ridge_pred
        for model_name, pred in (("ridge", ridge_pred), ("decoder", arrays[t])):
            scores = decoding_scores(Y_test[t].reshape(len(test_ids), -1), pred.reshape(len(test_ids), -1))
            rows.append({"stream": stream, "target": t, "model": model_name, **scores,
                         "alpha": float(np.median(fits[t].alphas)), "n_voxels": X.shape[1]})
    save_arrays(outputs["predictions"], arrays, {"stream": stream, "best_epoch": result.best_epoch})
    save_decoder(result.model, outputs["model"], {
        "stream": stream, "targets": targets,
        "alphas": {t: float(np.median(f.alphas)) for t, f in fits.items()},
    })
    table = pd.DataFrame(rows)
    write_text(outputs["scores"], table.to_csv(sep="\t", index=False))
    logger.info("held-out scores:\n%s", table.to_string(index=False))


@torch.inference_mode()
def predict(model, X: np.ndarray, device, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Decoder outputs for ``X`` (n, voxels), as float32 arrays keyed by output name."""
    model.eval()
    chunks: dict[str, list] = {}
    for start in range(0, len(X), batch_size):
        out = model(torch.as_tensor(X[start : start + batch_size], device=device))
        for name, value in out.items():
            chunks.setdefault(name, []).append(value.float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}
