"""Stage ``reconstruct_pixel_ridge``: the linear baseline, ridge from structural voxels onto a PCA basis of pixels.

Its own module so that the baseline's job imports neither diffusers nor transformers.
"""

from __future__ import annotations

import numpy as np

from ..baseline import PixelRidge, resize_images
from ..betas import load_betas
from ..h5io import save_arrays
from ..nsd import read_stimuli
from ..settings import PixelRidge as PixelRidgeSettings
from ..settings import RidgeFit


def run_pixel_ridge(
    *, betas, stimuli, pixel_ridge: PixelRidgeSettings, ridge: RidgeFit, out_images, out_model, chunk: int = 512
) -> None:
    """Fit ridge from structural voxels onto a PCA basis of the training stimuli; decode the test set."""
    X, train_ids = load_betas(betas, "structural", "train")
    X_test, test_ids = load_betas(betas, "structural", "test")
    size = pixel_ridge.size
    # Read and shrink the training stimuli in chunks so NSD's 425-px images never sit in memory at once.
    small = np.concatenate([
        (resize_images(read_stimuli(stimuli, train_ids[i : i + chunk]), size) * 255).round().astype(np.uint8)
        for i in range(0, len(train_ids), chunk)
    ])
    model = PixelRidge(pixel_ridge.n_components, size, ridge.alphas, cv=ridge.cv_folds, alpha_per=ridge.alpha_per)
    model.fit(X, small)
    model.save(out_model)
    save_arrays(out_images, {"images": model.predict(X_test), "nsd_id": test_ids}, {"method": "pixel_ridge", **pixel_ridge.model_dump()})
