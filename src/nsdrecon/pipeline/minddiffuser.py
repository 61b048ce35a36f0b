"""Stage ``train_minddiffuser_decoder``: MindDiffuser's L2 decoders from all visual voxels.

With ``regression: ridge`` each target group gets its own voxel selection and
ridge (:func:`nsdrecon.decoders.fit_voxel_selected_ridge`): the SD latent per
channel, the first ``text_tokens`` SD text tokens per token, each CLIP
ViT-B/32 layer and the CLIP embedding; with ``fastl2lir`` every target its own
voxels and MindDiffuser's fixed-alpha fit
(:func:`nsdrecon.decoders.minddiffuser.fit_per_target_l2`). Of every CLIP layer only the
``top_fraction`` most decodable dimensions (cross-validated on the training
set) are kept: those are what stage 2 matches. The text tokens after the
decoded ones, up to the features' context length, are the training mean. How
the CLIP features were computed (the features file's ``clip_output`` and
``clip_input``) travels on to the reconstruction in the predictions file. The test predictions file is the input
contract of :func:`nsdrecon.pipeline.reconstruction.run_minddiffuser`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..betas import load_betas
from ..decoders import decoding_scores
from ..decoders.minddiffuser import fit_per_target_l2, fit_voxel_selected_ridge, top_decodable_targets
from ..feature_files import layer_name, read_features
from ..h5io import load_arrays
from ..devices import resolve_device
from ..prediction_files import MindDiffuserInputs, write_minddiffuser_inputs
from ..settings import MindDiffuserDecoding, RidgeFit

logger = logging.getLogger(__name__)

STREAMS = ("structural", "semantic")


def visual_voxels(betas, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Both streams' voxels side by side (MindDiffuser decodes from all visual voxels) and the row ids."""
    parts = [load_betas(betas, stream, split) for stream in STREAMS]
    if not np.array_equal(parts[0][1], parts[1][1]):
        raise ValueError(f"{betas}: the streams hold different {split} images")
    return np.concatenate([x for x, _ in parts], axis=1), parts[0][1]


def run_train_minddiffuser(
    *, betas, features, decoding: MindDiffuserDecoding, ridge: RidgeFit, device: str, target_block: int,
    outputs: Mapping[str, str],
) -> None:
    """Fit the decoders (ridge on ``device``), predict the test images, write predictions and held-out scores.

    ``outputs``: ``predictions`` (see :mod:`nsdrecon.prediction_files`) and ``scores`` paths.
    """
    X, train_ids = visual_voxels(betas, "train")
    X_test, test_ids = visual_voxels(betas, "test")
    # the features file's name of each CLIP feature -> its name in the predictions file
    feature_names = {f"clip_{name}": name for name in [*map(layer_name, decoding.clip_layers), "embedding"]}
    layers = list(feature_names)[:-1]
    names = ["sd_latent", "sd_text", *feature_names]
    # one row per image; a target set is expanded to the (possibly single-trial) training rows only when fitted
    images, target_rows = np.unique(train_ids, return_inverse=True)
    Y = read_features(features, names, images)
    Y_test = read_features(features, names, test_ids)
    _, made = load_arrays(features, [])
    n_tokens = decoding.text_tokens
    logger.info(
        "MindDiffuser decoders: %d train rows of %d images, %d test images, %d voxels",
        len(X), len(images), len(X_test), X.shape[1],
    )  # fmt: skip

    fit = {
        "alphas": decoding.alphas, "n_voxels": decoding.voxel_fraction, "cv": ridge.cv_splits,
        "target_block": target_block, "restandardize_predictions": ridge.restandardize_predictions,
        "sample_groups": train_ids,  # an image's single trials stay in one fold
        "device": resolve_device(device),
    }
    latent_shape = Y["sd_latent"].shape[1:]
    if Y["sd_text"].shape[1] < n_tokens:
        raise ValueError(f"{features}: SD text context of {Y['sd_text'].shape[1]} tokens, fewer than text_tokens ({n_tokens})")
    text = Y["sd_text"][:, :n_tokens]
    targets = {  # name -> (targets per training image (n_images, t), group of each target)
        "sd_latent": (Y["sd_latent"].reshape(len(images), -1), np.repeat(np.arange(latent_shape[0]), np.prod(latent_shape[1:]))),
        "sd_text": (text.reshape(len(images), -1), np.repeat(np.arange(n_tokens), text.shape[2])),
        **{name: (Y[name], None) for name in feature_names},
    }
    decoded, clip, clip_index, rows = {}, {}, {}, []
    for name, (per_image, groups) in targets.items():
        if decoding.regression == "fastl2lir":
            kind = name if name in ("sd_latent", "sd_text") else "clip"
            model = fit_per_target_l2(
                X, per_image[target_rows], decoding.alphas[0], getattr(decoding.n_voxels, kind),
                cv_folds=ridge.cv_folds if name in layers else None, sample_groups=train_ids, device=fit["device"],
            )
            voxels_used = model.n_voxels
        else:
            model = fit_voxel_selected_ridge(
                X, per_image[target_rows], groups=groups if groups is not None else np.zeros(per_image.shape[1], int), **fit
            )
            voxels_used = len(model.voxels[0])
        pred = model.predict(X_test)
        truth = Y_test[name].reshape(len(X_test), -1)
        if name == "sd_text":
            truth = Y_test[name][:, :n_tokens].reshape(len(X_test), -1)
        if name in layers:
            # each dim's cross-validated score on the training set, never the test set
            keep = top_decodable_targets(model.target_scores(), decoding.top_fraction)
            pred, truth = pred[:, keep], truth[:, keep]
        else:
            keep = np.arange(pred.shape[1])
        if name.startswith("clip_"):
            clip[feature_names[name]], clip_index[feature_names[name]] = pred, keep
        else:
            decoded[name] = pred
        rows.append({"target": name, "n_targets": pred.shape[1], **decoding_scores(truth, pred),
                     "voxels_per_group": voxels_used, "n_voxels": X.shape[1]})
    predictions = MindDiffuserInputs(
        test_ids, decoded["sd_latent"].reshape(len(X_test), *latent_shape), decoded["sd_text"].reshape(len(X_test), n_tokens, -1),
        Y["sd_text"][:, n_tokens:].mean(axis=0), clip=clip, clip_index=clip_index,
        clip_output=made["clip_output"], clip_input=made["clip_input"],
    )
    write_minddiffuser_inputs(outputs["predictions"], predictions, {"method": "minddiffuser", **decoding.model_dump()})
    table = pd.DataFrame(rows)
    write_text(outputs["scores"], table.to_csv(sep="\t", index=False))
    logger.info("held-out scores:\n%s", table.to_string(index=False))
