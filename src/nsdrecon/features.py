"""Stimulus features: the decoding targets, computed with Versatile Diffusion's own encoders.

Three targets per image, exactly what the dual-guided UNet consumes:

* ``vae_latent`` (N, C, h, w): the KL autoencoder's posterior mean (or a seeded
  posterior sample, as the authors' codes) times ``vae.config.scaling_factor``
  (4 x 64 x 64 for 512-pixel VD);
* ``clip_image`` (N, n_img, dim): VD's image context (``_encode_image_prompt`` of
  diffusers' dual-guided pipeline): ``post_layernorm`` of every token,
  ``visual_projection``, divided by the norm of the projected CLS token
  (257 x 768 for CLIP ViT-L/14), from the image processor's input or
  Brain-Diffuser's (:func:`nsdrecon.models.encoders.clip_image_batch`);
* ``clip_text`` (N, 77, dim): VD's text context (``_encode_text_prompt``):
  ``text_projection`` of every token divided by the norm of the pooled (EOS)
  embedding, averaged over the image's captions.

:func:`compute_stimulus_features` writes them to one HDF5 file, batch by batch
(memory stays bounded at NSD scale), with the model source and library
versions as attributes: CLIP features drift across ``transformers`` versions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import diffusers
import numpy as np
import torch
import transformers

from nsdrecon.feature_files import write_feature_rows
from nsdrecon.models.clip_layers import ClipLayerFeatures
from nsdrecon.models.encoders import clip_image_batch, clip_text_batch, latent_batch, sd_text_batch
from nsdrecon.models.stable_diffusion import StableDiffusion
from nsdrecon.models.versatile_diffusion import VersatileDiffusion

logger = logging.getLogger(__name__)

__all__ = ["compute_minddiffuser_features", "compute_stimulus_features"]


def compute_stimulus_features(
    vd: VersatileDiffusion,
    images_uint8: Any | str | os.PathLike,
    captions: Sequence[Sequence[str]],
    nsd_ids: Sequence[int] | np.ndarray,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    vae_latent: str = "mean",
    clip_image_input: str = "processor",
    seed: int = 0,
) -> None:
    """Compute the three feature sets of the given stimuli and write them to HDF5.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``vae``, both CLIP encoders, ``tokenizer`` and ``image_processor``.
    images_uint8 : array-like of shape (n_images, height, width, 3), uint8, or path
        Row i shows stimulus ``nsd_ids[i]``; read one batch at a time. A path
        names NSD's ``nsd_stimuli.hdf5``, whose ``imgBrick`` rows ``nsd_ids``
        are read batch by batch (memory stays bounded at NSD scale).
    captions : sequence of n_images sequences of str
    nsd_ids : sequence of n_images int
        Unique ids of the stimuli (NSD's 0-based ``73KID``).
    out_path : str or path
        HDF5 file with datasets ``nsd_id`` (n_images,), ``vae_latent``,
        ``clip_image``, ``clip_text`` (float32, shapes as the ``encode_*``
        functions) and attributes recording the model and the library
        versions. Written batch by batch through :class:`~nsdrecon.resumable.RowWriter`:
        a killed run resumes after its last finished batch, and the file
        appears only complete.
    batch_size : int, default=32
    vae_latent : {"mean", "sample"}, default="mean"
        The posterior mean, or a sample seeded by ``seed + nsd_id`` (whatever the batch).
    clip_image_input : {"processor", "brain_diffuser"}, default="processor"
        See :func:`nsdrecon.models.encoders.clip_image_batch`.
    seed : int, default=0
    """
    shapes = {"vae_latent": vd.latent_shape, "clip_image": vd.image_tokens, "clip_text": vd.text_tokens}

    def encode(images: np.ndarray, texts: Sequence[Sequence[str]], ids: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "vae_latent": latent_batch(vd, images, _sample_seeds(vae_latent, seed, ids)),
            "clip_image": clip_image_batch(vd, images, clip_image_input),
            "clip_text": clip_text_batch(vd, texts),
        }

    provenance = {**_provenance(vd), "vae_latent": vae_latent, "clip_image_input": clip_image_input, "sample_seed": seed}
    write_feature_rows(out_path, images_uint8, captions, nsd_ids, shapes, encode, provenance, batch_size)


def compute_minddiffuser_features(
    sd: StableDiffusion,
    clip_features: ClipLayerFeatures,
    images_uint8: Any | str | os.PathLike,
    captions: Sequence[Sequence[str]],
    nsd_ids: Sequence[int] | np.ndarray,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    vae_latent: str = "mean",
    seed: int = 0,
    context_tokens: int | None = None,
    captions_per_image: int | None = None,
) -> None:
    """MindDiffuser's decoding targets of the given stimuli, written to HDF5 as :func:`compute_stimulus_features`.

    Datasets: ``sd_latent`` (SD's VAE latent, scaled: the posterior mean or a sample seeded by ``seed + nsd_id``),
    ``sd_text`` (SD's text conditioning, ``context_tokens`` long (default 77), mean over the first
    ``captions_per_image`` captions (default all); the decoder keeps the first tokens) and ``clip_<name>`` for each
    of ``clip_features.names`` (flattened CLIP ViT-B/32 layer features and the projected embedding). The
    attributes ``clip_output`` and ``clip_input`` say which layer activations and which input protocol.
    """
    probe = clip_features.batch_features(np.zeros((1, 8, 8, 3), np.uint8))
    shapes = {"sd_latent": sd.latent_shape, "sd_text": (context_tokens or sd.text_tokens[0], sd.text_tokens[1])}
    shapes.update({f"clip_{name}": value.shape[1:] for name, value in probe.items()})

    def encode(images: np.ndarray, texts: Sequence[Sequence[str]], ids: np.ndarray) -> dict[str, np.ndarray]:
        clip = clip_features.batch_features(images)
        return {
            "sd_latent": latent_batch(sd, images, _sample_seeds(vae_latent, seed, ids)),
            "sd_text": sd_text_batch(sd, [list(t)[:captions_per_image] for t in texts], context_tokens),
            **{f"clip_{name}": value for name, value in clip.items()},
        }

    provenance = {
        **_provenance(sd),
        "clip_source": clip_features.vision.name_or_path,
        "clip_layers": list(clip_features.layers),
        "clip_output": clip_features.output,
        "clip_input": clip_features.preprocess,
        "vae_latent": vae_latent,
        "sample_seed": seed,
        "captions_per_image": captions_per_image or 0,
    }
    write_feature_rows(out_path, images_uint8, captions, nsd_ids, shapes, encode, provenance, batch_size)


def _sample_seeds(vae_latent: str, seed: int, ids: np.ndarray) -> list[int] | None:
    """Seeds of the posterior samples of a batch (None: the posterior mean)."""
    if vae_latent not in ("mean", "sample"):
        raise ValueError(f"vae_latent must be 'mean' or 'sample', got {vae_latent!r}")
    return [seed + int(i) for i in ids] if vae_latent == "sample" else None


def _provenance(vd: VersatileDiffusion | StableDiffusion) -> dict[str, Any]:
    """Attributes that say how a feature file was made."""
    return {
        "model_source": vd.source,
        "random_init": vd.random_init,
        "seed": -1 if getattr(vd, "seed", None) is None else vd.seed,
        "dtype": str(vd.vae.dtype).removeprefix("torch."),
        "image_size": vd.image_size,
        "scaling_factor": float(vd.vae.config.scaling_factor),
        "torch_version": str(torch.__version__),
        "diffusers_version": diffusers.__version__,
        "transformers_version": transformers.__version__,
    }
