"""Stage ``oracle_inputs``: each test image's *true* features, in the decoders' prediction formats.

Reconstructing from the true features (the ``*_oracle`` methods) shows what
the generator can do when decoding is perfect, so a table separates what the
diffusion model loses from what decoding loses, on real NSD as on the
embedded default. The files have exactly the datasets the reconstruction
stages read from decoded predictions:

* HAVIR: ``nsd_id``, ``vae_latent``, ``clip_image``, ``clip_text``;
* MindDiffuser: ``nsd_id``, ``sd_latent``, ``sd_text`` (every context token
  true, so ``sd_text_tail`` is empty), and each CLIP feature ``clip_<name>`` with
  the same selected dimensions ``clip_<name>_index`` as the decoded file, so
  stage 2 matches the same targets, only true.
"""

from __future__ import annotations

import logging

import numpy as np

from ..betas import test_ids
from ..feature_files import read_features
from ..h5io import save_arrays
from ..prediction_files import MindDiffuserInputs, read_minddiffuser_inputs, write_minddiffuser_inputs

logger = logging.getLogger(__name__)

HAVIR_FEATURES = ("vae_latent", "clip_image", "clip_text")


def run_havir_oracle_inputs(*, betas, features, out_path) -> None:
    """True VAE latents and CLIP tokens of the test images, as the HAVIR decoders' predictions."""
    ids = test_ids(betas)
    arrays = read_features(features, HAVIR_FEATURES, ids)
    save_arrays(out_path, {"nsd_id": ids, **arrays}, {"method": "havir_oracle", "source": str(features)})
    logger.info("HAVIR oracle inputs: true features of %d test images", len(ids))


def run_minddiffuser_oracle_inputs(*, betas, features, predictions, out_path) -> None:
    """True SD latents, SD text conditioning and selected CLIP features of the test images."""
    ids = test_ids(betas)
    decoded = read_minddiffuser_inputs(predictions)
    if not np.array_equal(decoded.nsd_id, ids):
        raise ValueError(f"{predictions} and {betas} hold different test images")
    true = read_features(features, ["sd_latent", "sd_text", *(f"clip_{n}" for n in decoded.clip)], ids)
    oracle = MindDiffuserInputs(
        ids, true["sd_latent"], true["sd_text"], np.zeros((0, true["sd_text"].shape[2]), np.float32),
        clip={n: true[f"clip_{n}"][:, index] for n, index in decoded.clip_index.items()},
        clip_index=decoded.clip_index, clip_output=decoded.clip_output, clip_input=decoded.clip_input,
    )
    write_minddiffuser_inputs(out_path, oracle, {"method": "minddiffuser_oracle", "source": str(features)})
    logger.info("MindDiffuser oracle inputs: true features of %d test images, %d CLIP targets", len(ids), len(oracle.clip))
