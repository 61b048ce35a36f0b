"""Stage ``reconstruct``: HAVIR's dual-guided diffusion and the pixel_ridge baseline."""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from ..baseline import PixelRidge, resize_images
from ..betas import load_betas
from ..diffusion import DualGuidedReconstructor
from ..h5io import load_arrays, save_arrays
from ..models import load_versatile_diffusion, resolve_device, torch_dtype
from ..nsd import read_stimuli

logger = logging.getLogger(__name__)


def run_havir(*, structural, semantic, model, device, dtype, settings, out_path) -> None:
    """Images from decoded latents and CLIP tokens; ablations drop an input as ``settings`` say."""
    s_arrays, _ = load_arrays(structural, ["nsd_id", "vae_latent"])
    c_arrays, _ = load_arrays(semantic, ["nsd_id", "clip_image", "clip_text"])
    ids = s_arrays["nsd_id"]
    if not np.array_equal(ids, c_arrays["nsd_id"]):
        raise ValueError(f"{structural} and {semantic} hold different test images")
    vd = load_versatile_diffusion(
        model["id"], random_init=model["random_init"], seed=model["seed"],
        device=resolve_device(device), dtype=torch_dtype(dtype),
    )
    recon = DualGuidedReconstructor(vd, mix_ratio_text=settings["mix_ratio_text"], uncond_image=settings["uncond_image"])
    images = []
    bs = settings["batch_size"]
    for start in tqdm(range(0, len(ids), bs), desc="reconstruct", disable=None):
        sl = slice(start, start + bs)
        images.append(recon(
            c_arrays["clip_image"][sl] if settings["use_image"] else None,
            c_arrays["clip_text"][sl] if settings["use_text"] else None,
            s_arrays["vae_latent"][sl] if settings["use_structure"] else None,
            strength=settings["strength"] if settings["use_structure"] else 1.0,
            guidance_scale=settings["guidance_scale"],
            num_inference_steps=settings["num_inference_steps"],
            seeds=[settings["seed"] + int(i) for i in ids[sl]],
        ))
    save_arrays(out_path, {"images": np.concatenate(images), "nsd_id": ids},
                {"model": model["id"], "random_init": model["random_init"], **settings})


def run_pixel_ridge(*, betas, stimuli, pixel_ridge, ridge, out_images, out_model, chunk: int = 512) -> None:
    """Fit ridge from structural voxels onto a PCA basis of the training stimuli; decode the test set."""
    X, train_ids = load_betas(betas, "structural", "train")
    X_test, test_ids = load_betas(betas, "structural", "test")
    size = pixel_ridge["size"]
    # Read and shrink the training stimuli in chunks so NSD's 425-px images never sit in memory at once.
    small = np.concatenate([
        (resize_images(read_stimuli(stimuli, train_ids[i : i + chunk]), size) * 255).round().astype(np.uint8)
        for i in range(0, len(train_ids), chunk)
    ])
    model = PixelRidge(pixel_ridge["n_components"], size, ridge["alphas"], cv=ridge["cv_folds"], alpha_per=ridge["alpha_per"])
    model.fit(X, small)
    model.save(out_model)
    save_arrays(out_images, {"images": model.predict(X_test), "nsd_id": test_ids}, {"method": "pixel_ridge", **pixel_ridge})
