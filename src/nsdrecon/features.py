"""Stimulus features: the decoding targets, computed with Versatile Diffusion's own encoders.

Three targets per image, exactly what the dual-guided UNet consumes:

* ``vae_latent`` (N, C, h, w): the KL autoencoder's posterior mean times
  ``vae.config.scaling_factor`` (4 x 64 x 64 for 512-pixel VD);
* ``clip_image`` (N, n_img, dim): VD's image context (``_encode_image_prompt`` of
  diffusers' dual-guided pipeline): ``post_layernorm`` of every token,
  ``visual_projection``, divided by the norm of the projected CLS token
  (257 x 768 for CLIP ViT-L/14);
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
from collections.abc import Callable, Sequence
from typing import Any

import diffusers
import h5py
import numpy as np
import torch
import transformers
from tqdm.auto import tqdm

from nsdrecon.atomic import atomic_path
from nsdrecon.models.versatile_diffusion import VersatileDiffusion
from nsdrecon.nsd.stimuli import read_stimuli

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURE_NAMES",
    "compute_stimulus_features",
    "encode_clip_image_tokens",
    "encode_clip_text_tokens",
    "encode_vae_latents",
    "read_features",
]

FEATURE_NAMES = ("vae_latent", "clip_image", "clip_text")
"""Datasets of a feature file besides ``nsd_id``."""


def encode_vae_latents(vd: VersatileDiffusion, images_uint8: Any, batch_size: int = 32) -> np.ndarray:
    """VAE latents of images, scaled as the UNet sees them.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``vae``.
    images_uint8 : array-like of shape (n_images, height, width, 3), uint8
        Anything sliceable along the first axis (a NumPy array, an h5py dataset).
        Images are resized to ``vd.image_size`` (antialiased bicubic).
    batch_size : int, default=32

    Returns
    -------
    ndarray of shape (n_images, C, h, w), float32
        ``latent_dist.mean * vae.config.scaling_factor``.
    """
    return _map_batches(lambda batch: _vae_latent_batch(vd, batch), images_uint8, batch_size, "VAE latents")


def encode_clip_image_tokens(vd: VersatileDiffusion, images_uint8: Any, batch_size: int = 32) -> np.ndarray:
    """CLIP image context tokens of images, normalised as Versatile Diffusion does.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``image_encoder`` and ``image_processor``.
    images_uint8 : array-like of shape (n_images, height, width, 3), uint8
    batch_size : int, default=32

    Returns
    -------
    ndarray of shape (n_images, n_image_tokens, dim), float32
        ``visual_projection(post_layernorm(last_hidden_state))`` divided by the
        norm of its first (CLS) token, so token 0 has norm 1.
    """
    return _map_batches(lambda batch: _clip_image_batch(vd, batch), images_uint8, batch_size, "CLIP image")


def encode_clip_text_tokens(
    vd: VersatileDiffusion, captions: Sequence[Sequence[str]], batch_size: int = 32
) -> np.ndarray:
    """CLIP text context tokens, normalised as Versatile Diffusion does, averaged over each image's captions.

    Parameters
    ----------
    vd : VersatileDiffusion
        Needs ``text_encoder`` and ``tokenizer``.
    captions : sequence of n_images sequences of str
        The captions of each image (at least one per image).
    batch_size : int, default=32
        Images per forward pass (all their captions go together).

    Returns
    -------
    ndarray of shape (n_images, 77, dim), float32
        Mean over an image's captions of ``text_projection(last_hidden_state)``
        divided by the norm of the pooled (EOS) embedding.
    """
    return _map_batches(lambda batch: _clip_text_batch(vd, batch), captions, batch_size, "CLIP text")


def compute_stimulus_features(
    vd: VersatileDiffusion,
    images_uint8: Any | str | os.PathLike,
    captions: Sequence[Sequence[str]],
    nsd_ids: Sequence[int] | np.ndarray,
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
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
        HDF5 file, written atomically, with datasets ``nsd_id`` (n_images,),
        ``vae_latent``, ``clip_image``, ``clip_text`` (float32, shapes as the
        ``encode_*`` functions) and attributes recording the model and the
        library versions.
    batch_size : int, default=32
    """
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    n_images = len(nsd_ids)
    from_file = isinstance(images_uint8, (str, os.PathLike))
    if not from_file and len(images_uint8) != n_images:
        raise ValueError(f"{out_path}: expected {n_images} images (one per nsd_id), got {len(images_uint8)}")
    if len(captions) != n_images:
        raise ValueError(f"{out_path}: expected {n_images} caption lists (one per nsd_id), got {len(captions)}")
    if len(np.unique(nsd_ids)) != n_images:
        raise ValueError(f"{out_path}: nsd_ids must be unique; repeated: {_repeated(nsd_ids)}")
    shapes = {
        "vae_latent": vd.latent_shape,
        "clip_image": vd.image_tokens,
        "clip_text": vd.text_tokens,
    }
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(_provenance(vd))
        h5.create_dataset("nsd_id", data=nsd_ids)
        datasets = {
            name: h5.create_dataset(name, shape=(n_images, *shape), dtype="float32", chunks=(1, *shape))
            for name, shape in shapes.items()
        }
        for start in tqdm(range(0, n_images, batch_size), desc="stimulus features", unit="batch", disable=None):
            stop = min(start + batch_size, n_images)
            if from_file:
                images = read_stimuli(images_uint8, nsd_ids[start:stop])
            else:
                images = np.asarray(images_uint8[start:stop])
            datasets["vae_latent"][start:stop] = _vae_latent_batch(vd, images)
            datasets["clip_image"][start:stop] = _clip_image_batch(vd, images)
            datasets["clip_text"][start:stop] = _clip_text_batch(vd, captions[start:stop])
    logger.info("wrote features of %d stimuli to %s", n_images, out_path)


def read_features(
    path: str | os.PathLike, names: Sequence[str], nsd_ids: Sequence[int] | np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Read feature sets from a file written by :func:`compute_stimulus_features`.

    Parameters
    ----------
    path : str or path
    names : sequence of str
        Datasets to read, from ``nsd_id`` and :data:`FEATURE_NAMES`.
    nsd_ids : sequence of int, optional
        Rows to return, in this order (repeats allowed); default: all rows in
        file order.

    Returns
    -------
    dict of str to ndarray
        One array per name, first axis in the order of ``nsd_ids``.

    Raises
    ------
    KeyError
        An asked-for dataset is not in the file.
    ValueError
        Some ``nsd_ids`` are not in the file (all missing ids are listed).
    """
    with h5py.File(path, "r") as h5:
        missing_names = [name for name in names if name not in h5]
        if missing_names:
            raise KeyError(f"{path}: no dataset {missing_names}; datasets in the file: {sorted(h5)}")
        file_ids = h5["nsd_id"][()]
        if nsd_ids is None:
            return {name: h5[name][()] for name in names}
        nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
        order = np.argsort(file_ids, kind="stable")
        position = np.searchsorted(file_ids[order], nsd_ids)
        position = np.minimum(position, len(file_ids) - 1)
        found = file_ids[order][position] == nsd_ids
        if not found.all():
            missing = np.unique(nsd_ids[~found])
            raise ValueError(f"{path}: {len(missing)} requested nsd_ids are not in the file: {missing.tolist()}")
        rows = order[position]
        unique_rows, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing indices only
        return {name: h5[name][unique_rows][inverse] for name in names}


def _map_batches(encode: Callable[[Any], np.ndarray], items: Any, batch_size: int, desc: str) -> np.ndarray:
    """Apply ``encode`` to consecutive slices of ``items`` and stack the results."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    starts = range(0, len(items), batch_size)
    parts = [encode(items[start : start + batch_size]) for start in tqdm(starts, desc=desc, unit="batch", disable=None)]
    return np.concatenate(parts)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (n, height, width, 3), got {images.dtype} {images.shape}")
    return images


@torch.inference_mode()
def _vae_latent_batch(vd: VersatileDiffusion, images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, C, h, w) float32 scaled posterior means."""
    pixels = torch.from_numpy(_check_images(images)).to(vd.vae.device).permute(0, 3, 1, 2).float()
    if pixels.shape[-2:] != (vd.image_size, vd.image_size):
        pixels = torch.nn.functional.interpolate(
            pixels, size=(vd.image_size, vd.image_size), mode="bicubic", antialias=True, align_corners=False
        )
    pixels = (pixels / 127.5 - 1.0).clamp(-1.0, 1.0).to(vd.vae.dtype)
    latents = vd.vae.encode(pixels).latent_dist.mean * vd.vae.config.scaling_factor
    return latents.float().cpu().numpy()


@torch.inference_mode()
def _clip_image_batch(vd: VersatileDiffusion, images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, n_image_tokens, dim) float32, VD's ``_encode_image_prompt``."""
    encoder = vd.image_encoder
    pixels = torch.from_numpy(_check_images(images)).permute(0, 3, 1, 2)
    pixel_values = vd.image_processor(images=pixels, return_tensors="pt", device=encoder.device).pixel_values
    hidden = encoder(pixel_values.to(encoder.device, encoder.dtype)).last_hidden_state
    tokens = encoder.visual_projection(encoder.vision_model.post_layernorm(hidden))
    tokens = tokens / torch.linalg.vector_norm(tokens[:, :1], dim=-1, keepdim=True)
    return tokens.float().cpu().numpy()


@torch.inference_mode()
def _clip_text_batch(vd: VersatileDiffusion, captions: Sequence[Sequence[str]]) -> np.ndarray:
    """B caption lists -> (B, 77, dim) float32, VD's ``_encode_text_prompt`` averaged per image."""
    if any(isinstance(image_captions, str) for image_captions in captions):
        raise ValueError("captions must hold one list of captions per image, got a bare string")
    counts = np.array([len(image_captions) for image_captions in captions])
    if (counts == 0).any():
        empty = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"every image needs at least one caption; images {empty} of this batch have none")
    flat = [caption for image_captions in captions for caption in image_captions]
    encoder = vd.text_encoder
    input_ids = vd.tokenizer(
        flat, padding="max_length", max_length=vd.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids.to(encoder.device)
    output = encoder(input_ids)
    tokens = encoder.text_projection(output.last_hidden_state)
    tokens = tokens / torch.linalg.vector_norm(output.text_embeds, dim=-1, keepdim=True)[:, None]
    image_index = torch.from_numpy(np.repeat(np.arange(len(captions)), counts)).to(tokens.device)
    sums = torch.zeros((len(captions), *tokens.shape[1:]), dtype=torch.float32, device=tokens.device)
    sums.index_add_(0, image_index, tokens.float())
    return (sums / torch.from_numpy(counts).to(sums)[:, None, None]).cpu().numpy()


def _provenance(vd: VersatileDiffusion) -> dict[str, Any]:
    """Attributes that say how a feature file was made."""
    return {
        "model_source": vd.source,
        "random_init": vd.random_init,
        "seed": -1 if vd.seed is None else vd.seed,
        "dtype": str(vd.dtype).removeprefix("torch."),
        "image_size": vd.image_size,
        "scaling_factor": float(vd.vae.config.scaling_factor),
        "torch_version": str(torch.__version__),
        "diffusers_version": diffusers.__version__,
        "transformers_version": transformers.__version__,
    }


def _repeated(ids: np.ndarray) -> list[int]:
    values, counts = np.unique(ids, return_counts=True)
    return values[counts > 1].tolist()
