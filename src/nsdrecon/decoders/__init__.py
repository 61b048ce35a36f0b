"""Ridge-initialised decoders of HAVIR: the Structural Generator (voxels -> VAE
latent) and the Semantic Extractor (voxels -> CLIP image and text tokens),
their fine-tuning with early stopping, safetensors I/O and held-out scores;
and MindDiffuser's voxel-selected ridge decoders.

Typical use (one stream of one subject)::

    train, val = validation_split(len(X), val_fraction, seed)
    fit = fit_ridge_low_rank(X[train], latents[train].reshape(len(train), -1), alphas, rank=256)
    model = StructuralGenerator.from_ridge(fit, latents.shape[1:], rank=256, hidden=256)
    result = train_decoder(model, X, {"latent": latents}, val_fraction=val_fraction, seed=seed)
    save_decoder(result.model, path, {"subject": "subj01", "alphas": fit.alphas.tolist()})
"""

from .io import DECODER_CLASSES, decoding_scores, load_decoder, read_decoder_metadata, save_decoder
from .layers import LowRankLinear, ResidualMLP, RidgeDecoder
from .minddiffuser import VoxelSelectedRidge, fit_voxel_selected_ridge, rank_voxels, top_decodable_targets
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
    "VoxelSelectedRidge",
    "decoding_scores",
    "fit_voxel_selected_ridge",
    "info_nce",
    "load_decoder",
    "pooled_embedding",
    "rank_voxels",
    "read_decoder_metadata",
    "save_decoder",
    "sobel_edges",
    "top_decodable_targets",
    "train_decoder",
    "validation_split",
]
