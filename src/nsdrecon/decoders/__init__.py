"""Ridge-initialised decoders of HAVIR: the Structural Generator (voxels -> VAE
latent) and the Semantic Extractor (voxels -> CLIP image and text tokens),
their fine-tuning with early stopping, safetensors I/O and held-out scores.

Typical use (one stream of one subject)::

    train, val = validation_split(len(X), val_fraction, seed)
    fit = fit_ridge(X[train], latents[train].reshape(len(train), -1), alphas)
    model = StructuralGenerator.from_ridge(fit, latents.shape[1:], hidden=256)
    result = train_decoder(model, X, {"latent": latents}, val_fraction=val_fraction, seed=seed)
    save_decoder(result.model, path, {"subject": "subj01", "alphas": fit.alphas.tolist()})
"""

from .io import DECODER_CLASSES, decoding_scores, load_decoder, read_decoder_metadata, save_decoder
from .layers import LowRankLinear, ResidualMLP, RidgeDecoder, ridge_low_rank_factors
from .semantic import SemanticExtractor, info_nce, pooled_embedding
from .structural import StructuralGenerator, sobel_edges
from .training import TrainResult, train_decoder, validation_split

__all__ = [
    "DECODER_CLASSES",
    "LowRankLinear",
    "ResidualMLP",
    "RidgeDecoder",
    "SemanticExtractor",
    "StructuralGenerator",
    "TrainResult",
    "decoding_scores",
    "info_nce",
    "load_decoder",
    "pooled_embedding",
    "read_decoder_metadata",
    "ridge_low_rank_factors",
    "save_decoder",
    "sobel_edges",
    "train_decoder",
    "validation_split",
]
