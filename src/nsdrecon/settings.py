"""The typed configuration: one pydantic model per config section, the single place a key is defined.

Each field holds its default (the embedded default's value, so ``config/config.yaml``
equals ``Config()``), its allowed values and its meaning. From these models come
the JSON schema that ``snakemake.utils.validate`` reads
(``workflow/schemas/config.schema.yaml``) and the key tables of
``config/README.md``; ``python -m nsdrecon.settings`` rewrites both, and
``tests/test_settings.py`` fails when either drifts. :func:`load` gives the typed
sections, with errors that name the dotted key. A section with execution settings
(batch sizes, ``ridge.target_block``) extends the settings its stage takes
(``Ridge`` extends ``RidgeFit``): a rule passes the stage's part as ``params``
(its rerun triggers) and the rest as ``resources``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "HAVIR_METHODS",
    "MINDDIFFUSER_METHODS",
    "METHODS",
    "MEEG_SOURCES",
    "Config",
    "Meeg",
    "modality",
    "ConfigKeyError",
    "json_schema",
    "key_tables",
    "load",
]

Method = Literal[
    "havir",
    "havir_no_structure",
    "havir_no_text",
    "havir_no_image",
    "havir_oracle",
    "minddiffuser",
    "minddiffuser_stage1",
    "minddiffuser_oracle",
    "pixel_ridge",
]
METHODS: tuple[str, ...] = get_args(Method)
HAVIR_METHODS = tuple(m for m in METHODS if m.startswith("havir"))
MINDDIFFUSER_METHODS = tuple(m for m in METHODS if m.startswith("minddiffuser"))
Labels = Literal["all"] | Annotated[list[str], Field(min_length=1)]
LabelSets = Annotated[
    dict[str, Labels],
    Field(min_length=1, description="ROI file name -> list of label names, or 'all' for every label > 0."),
]
Alphas = Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]


def _unique(values: list) -> list:
    if len(set(map(json.dumps, values))) != len(values):
        raise ValueError(f"values must be unique, got {values}")
    return values


def _below_one(sampler):
    """The authors' (LDM) schedules noise at DDIM index int(steps * strength): a strength of 1 has no such index."""
    if sampler.schedule != "diffusers" and sampler.strength >= 1:
        raise ValueError(f"schedule {sampler.schedule!r} needs a strength below 1 (it noises at DDIM index int(steps · strength))")
    return sampler


class Section(BaseModel):
    """A config section: unknown keys are errors, so a typo stops the run with its name."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Download(Section):
    """Downloads from the NSD bucket (`source: nsd`)."""

    parallel: int = Field(4, ge=1, le=64)
    """connections per downloaded file (files of 16 MB and more are fetched as ranges at once) and range requests in flight for a stimulus subset. Each `download_nsd` job fetches one key; Snakemake runs `--cores` of them at once."""
    retries: int = Field(5, ge=0, le=20)
    """further attempts after a dropped connection, truncated body, HTTP 5xx/429 or checksum mismatch, with exponential backoff. Each key's download is recorded in `logs/download_nsd/<key>.json` (bytes, SHA-256, seconds, MB/s, what verified it); downloaded files are write-protected, and `snakemake verify` re-checks every recorded file's size and SHA-256. Changing these reruns nothing."""


class Synthetic(Section):
    """The generated NSD-format dataset (`source: synthetic`)."""

    seed: int = Field(0, ge=0)
    """seed of everything generated."""
    n_images_per_subject: int = Field(1000, ge=10)
    """images per subject (NSD: 10,000, each shown 3 times)."""
    n_shared: int = Field(50, ge=2)
    """images shared by all subjects, the test set (NSD: 1,000)."""
    trials_per_session: int = Field(750, ge=1)
    """trials per session (NSD: 750); sessions = 3 × images / trials."""
    image_size: int = Field(64, ge=16)
    """stimulus size in pixels (NSD: 425)."""
    volume_shape: list[Annotated[int, Field(ge=8)]] = Field(
        default_factory=lambda: [18, 22, 18], min_length=3, max_length=3
    )
    """functional volume size; each subject's own geometry jitters around it."""
    snr: float = Field(0.6, gt=0)
    """single-trial signal-to-noise ratio (std of signal / std of noise) of the known encoding model."""


class Betas(Section):
    """Single-trial betas: which GLM, sessions and normalisation (see the protocols below)."""

    version: Literal["betas_assumehrf", "betas_fithrf", "betas_fithrf_GLMdenoise_RR"] = "betas_fithrf_GLMdenoise_RR"
    """GLM version (`betas_fithrf_GLMdenoise_RR` is the field's choice)."""
    format: Literal["hdf5", "nifti"] = "hdf5"
    """`hdf5` (voxel-subset reads) or `nifti`; both give identical arrays in the same voxel order."""
    sessions: int = Field(4, ge=1, le=40)
    """use the first N sessions. Test = the shared images (10k indices 1..1000 of `nsd_expdesign.mat`) seen within them: 37 sessions give the 982-image test set of Brain-Diffuser/MindEye1, 40 the 1,000 of MindEye2. Train = the subject's other images seen within them."""
    zscore: Literal["session", "train", "none"] = "session"
    """`session`: per voxel over each session's trials (before averaging; MindEye2); `train`: with the mean and std (ddof=1) of the train rows, applied to train and test (Brain-Diffuser); `none`. Betas are divided by 300 first (NSD stores % signal change × 300 as int16)."""
    train_trials: Literal["averaged", "single"] = "averaged"
    """`averaged`: one train row per image, the mean of its repeats within the sessions (Brain-Diffuser); `single`: one train row per trial (MindEye). Test rows are always one per image, repeats averaged."""


class Masks(Section):
    """Each subject's structural and semantic voxel sets, from its own ROI files."""

    intersect: str = "nsdgeneral"
    """ROI whose positive voxels bound both sets."""
    overlap: Literal["structural", "semantic", "both"] = "structural"
    """a voxel in both sets goes to `structural`, `semantic`, or `both`."""
    structural: LabelSets = Field(
        default_factory=lambda: {"prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"], "streams": ["early"]}
    )
    """early visual voxels: ROI file name → list of label names (from that ROI's `.ctab`), or `all` (our choice, methods.md)."""
    semantic: LabelSets = Field(
        default_factory=lambda: {
            "streams": ["ventral", "lateral", "parietal"],
            **{f"floc-{category}": "all" for category in ("faces", "bodies", "places", "words")},
        }
    )
    """higher visual voxels, as `structural`."""


class ModelSource(Section):
    """A model from a Hugging Face id or a local folder."""

    id: str
    """Hugging Face id or local folder with the Hub repository's layout (relative folders are looked up in the working directory, then in the repository)."""
    random_init: bool = False
    """`true`: build the same classes from the folder's configs with seeded random weights (their images are noise); `false`: load pretrained weights, from safetensors only. Nothing is downloaded at run time unless the Hugging Face cache allows it; set `HF_HUB_OFFLINE=1` on compute nodes."""
    seed: int = Field(0, ge=0)
    """seed of the random initialisation."""


class Models(Section):
    """Versatile Diffusion and where the networks run."""

    diffusion: ModelSource = Field(
        default_factory=lambda: ModelSource(id="resources/models/tiny-versatile-diffusion")
    )
    """Versatile Diffusion (`shi-labs/versatile-diffusion`); the embedded default loads its tiny models trained on generated scenes (`python -m nsdrecon.tiny_models`)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto` (GPU when present), `cpu` or `cuda`. With `cpu`, GPU rules ask the scheduler for no GPU. It says where to compute, not what, so changing it reruns nothing. `cuda` on a machine without a visible GPU stops the run before any job starts."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """precision of the diffusion models."""


class FeatureEncoding(Section):
    """How stimuli become decoding targets: the settings the feature stages take (the rerun triggers)."""

    vae_latent: Literal["mean", "sample"] = "mean"
    """VAE latent of a stimulus: the posterior `mean`, or a `sample` from it (mean + std·ε, ε seeded by `seed + nsd_id`), as both authors' codes do (Brain-Diffuser's `autokl_encode`, MindDiffuser's `get_first_stage_encoding`). Both feature files."""
    clip_image_input: Literal["processor", "brain_diffuser"] = "processor"
    """how a stimulus reaches Versatile Diffusion's CLIP image encoder: the model's image `processor` as diffusers' pipeline uses it, or `brain_diffuser`'s path (`clipvision_extract_features.py`: PIL bilinear to 512 px, VD's [-1, 1] round trip truncated to uint8 as transformers 4.19 did, then CLIP's PIL processor: bicubic, centre crop, normalise)."""
    seed: int = Field(0, ge=0)
    """seed of the posterior samples (`vae_latent: sample`)."""


class Features(FeatureEncoding):
    """Stimulus features (VAE latents, CLIP image and text tokens)."""

    batch_size: int = Field(32, ge=1)
    """images per batch when encoding stimuli (an execution setting: reruns nothing)."""


class RidgeFit(Section):
    """What a ridge fit computes: the settings a decoder stage takes (the rerun triggers)."""

    alphas: Alphas = Field(default_factory=lambda: [10.0, 100.0, 1000.0, 10000.0, 100000.0])
    """ridge penalties tried; one decomposition serves all."""
    cv_folds: int = Field(5, ge=2)
    """folds of the cross-validation that picks alpha (with `cv: kfold`)."""
    cv: Literal["kfold", "gcv", "loo"] = "kfold"
    """how each alpha is scored: `kfold` (one decomposition per fold), `gcv` (generalised cross-validation) or `loo` (exact leave-one-out), both from the one full-data decomposition. With `betas.train_trials: single` use `kfold`: its folds keep all trials of an image together (the log warns otherwise)."""
    alpha_per: Literal["group", "target"] = "group"
    """choose alpha per `group` (one per decoding target) or per `target` (each output dimension)."""
    restandardize_predictions: bool = False
    """rescale each target's predictions to the training targets' mean and std, as Brain-Diffuser does (statistics of held-out predictions at the chosen alpha, so a prediction does not depend on its batch)."""

    @property
    def cv_splits(self) -> int | str:
        """The ridge solvers' ``cv`` argument: the fold count for `kfold`, else the method's name."""
        return self.cv_folds if self.cv == "kfold" else self.cv


class Ridge(RidgeFit):
    """The ridge regressions that initialise every decoder."""

    target_block: int = Field(4096, ge=1)
    """targets streamed through the solver at once; bounds memory (an execution setting: reruns nothing)."""


class Streams(Section):
    """Which targets each voxel set predicts."""

    structural: list[Literal["vae_latent"]] = Field(default_factory=lambda: ["vae_latent"])
    """targets of the structural voxels (HAVIR's Structural Generator)."""
    semantic: list[Literal["clip_image", "clip_text"]] = Field(default_factory=lambda: ["clip_image", "clip_text"])
    """targets of the semantic voxels (HAVIR's Semantic Extractor)."""


class DecoderTraining(Section):
    """How a stream's ridge-initialised decoder is fine-tuned: the settings the decoder stage takes."""

    epochs: int = Field(5, ge=0)
    """fine-tuning epochs; 0 keeps the ridge solution."""
    batch_size: int = Field(64, ge=1)
    """training minibatch (changes the decoder, so it is a rerun trigger)."""
    lr: float = Field(1.0e-4, gt=0)
    """AdamW learning rate."""
    weight_decay: float = Field(1.0e-2, ge=0)
    """AdamW weight decay."""
    hidden: int = Field(256, ge=1)
    """width of the residual refinement branch."""
    n_blocks: int = Field(2, ge=0)
    """depth of the residual refinement branch."""
    rank: int = Field(256, ge=1)
    """rank of the ridge-initialised input projection (exact ridge when ≥ min(voxels, targets))."""
    dropout: float = Field(0.1, ge=0, le=1)
    """dropout in the refinement branch."""
    val_fraction: float = Field(0.1, gt=0, lt=1)
    """share of training images held out for early stopping (whole images: with single trials all of an image's trials go to the same side)."""
    sobel_weight: float = Field(0.1, ge=0)
    """weight of the Sobel edge loss of the Structural Generator."""
    contrastive_weight: float = Field(0.1, ge=0)
    """weight of the contrastive term of the Semantic Extractor."""
    seed: int = Field(0, ge=0)
    """seed of the fine-tuning."""


class Decoders(DecoderTraining):
    """Ridge-initialised decoders, fine-tuned with AdamW and early stopping."""

    streams: Streams = Field(default_factory=Streams)
    """which targets each voxel set predicts."""


class PixelRidge(Section):
    """The weight-free baseline: ridge from structural voxels onto a PCA basis of the stimuli."""

    n_components: int = Field(64, ge=1)
    """PCA basis size."""
    size: int = Field(64, ge=8)
    """pixel size of the baseline's images."""


class HavirSampler(Section):
    """HAVIR's dual-guided sampler: the settings its reconstruction stage takes."""

    num_inference_steps: int = Field(15, ge=1)
    """DDIM steps (NSD: 50, Brain-Diffuser); 0.75 of 50 steps = 37 denoising steps from the decoded latent."""
    strength: float = Field(0.75, ge=0, le=1)
    """img2img strength from the decoded latent."""
    guidance_scale: float = Field(7.5, ge=1)
    """classifier-free guidance."""
    mix_ratio_text: float = Field(0.4, ge=0, le=1)
    """share of the text context in the dual cross-attention (0.4 = image 0.6 / text 0.4, as Brain-Diffuser; diffusers' `mix_ratio` weights the text side)."""
    uncond_image: Literal["black", "grey"] = "black"
    """unconditional image context: CLIP tokens of a `black` image (what the tiny models were trained with; within half a grey level of diffusers' pipeline under transformers 5) or Brain-Diffuser's `grey` one (pixel value 127: its `torch.zeros` in VD's [-1, 1] convention, as transformers 4.19 converted it)."""
    schedule: Literal["diffusers", "brain_diffuser"] = "diffusers"
    """where the decoded latent is noised and which DDIM steps denoise it (k = int(steps · strength)): `diffusers` noises to the first kept step and denoises k steps from it (50 at 0.75: t=721); `brain_diffuser` noises at DDIM index k (t=741) and denoises indices k-1…0 (37 steps from t=721), as its `stochastic_encode` + `decode_dc`."""
    seed: int = Field(0, ge=0)
    """image *i* uses seed `seed + nsd_id`, so it does not depend on its batch."""

    @model_validator(mode="after")
    def _strength_has_an_index(self):
        return _below_one(self)


class Reconstruct(HavirSampler):
    """Which methods reconstruct the test images, and HAVIR's sampler."""

    methods: list[Method] = Field(default_factory=lambda: list(METHODS), min_length=1, json_schema_extra={"uniqueItems": True})
    """`havir`, its ablations `havir_no_structure` (pure-noise start), `havir_no_text`, `havir_no_image`; `minddiffuser` (both stages) and its ablation `minddiffuser_stage1`; the oracles `havir_oracle` and `minddiffuser_oracle` (the same generator from each test image's true features: the generator's ceiling); and the weight-free `pixel_ridge` baseline."""
    batch_size: int = Field(16, ge=1)
    """images per batch (an execution setting: reruns nothing)."""
    pixel_ridge: PixelRidge = Field(default_factory=PixelRidge)
    """the `pixel_ridge` baseline."""

    _unique_methods = field_validator("methods")(_unique)


class Stage2(Section):
    """MindDiffuser's stage 2: the decoded latent refined by backpropagation (paper: 300 Adam steps)."""

    steps: int = Field(4, ge=0)
    """Adam steps on the decoded latent (paper: 300)."""
    lr: float = Field(0.01, gt=0)
    """Adam learning rate (paper: 0.01)."""
    lr_decay: float = Field(0.999, gt=0, le=1)
    """exponential learning-rate decay per step (paper: 0.999)."""
    cosine_weight: float = Field(0.1, ge=0)
    """loss = MSE over the decoded layer features + `cosine_weight`·(1 − cos) on the embedding; gradients flow through the denoising steps, the VAE decoder and CLIP."""
    inner_steps: Annotated[int, Field(ge=1)] | None = 4
    """schedule length inside the loop: `null` = `num_inference_steps` (exact); fewer is the faster variant (the final image always uses the full schedule)."""
    optimize_conditioning: bool = False
    """also update the text conditioning (the paper updates both)."""
    noise: Literal["fixed", "fresh"] = "fixed"
    """the img2img noise inside the loop: drawn once per image (`fixed`) or anew at every iteration (`fresh`, MindDiffuser's `stochastic_encode` without a noise argument)."""
    layer_weights: Literal["equal", "minddiffuser"] = "equal"
    """each layer's MSE weight: `equal` (mean over the decoded dimensions), or `minddiffuser`'s `MSE_CLIP_mask` (per image, inverse target norms normalised to sum 1, times 1.5, 1.2, 1, 1, 1, 1 in layer order; MSE over the whole layer with the unselected dimensions zero)."""
    snapshot_every: Annotated[int, Field(ge=1)] | None = None
    """`null`: the output is the full schedule's image of the refined latent; N: the image rendered inside the loop at the last iteration i < steps with i % N = 0 (MindDiffuser saves every 10th of 300 iterations, the last being 290). Needs `inner_steps: null`."""
    checkpoint: bool = False
    """recompute each UNet call in the backward pass (bounds GPU memory at 512 px; same images, slower)."""

    @model_validator(mode="after")
    def _snapshot_needs_exact_loop(self):
        if self.snapshot_every is not None and self.inner_steps is not None:
            raise ValueError("snapshot_every keeps an image rendered inside the loop: it needs inner_steps: null (the full schedule)")
        return self


class MindDiffuserTargets(Section):
    """What MindDiffuser decodes: the settings its feature stage takes."""

    clip_layers: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [2, 4], min_length=1, json_schema_extra={"uniqueItems": True}
    )
    """CLIP blocks read (1-based) plus the projected embedding. MindDiffuser's `Linear-2 … Linear-12` are blocks 1-6 with `clip_output: mlp`."""
    clip_output: Literal["hidden_state", "mlp"] = "hidden_state"
    """what a layer feature is: the residual stream after the block (`hidden_state`), or the block's MLP branch before the residual add (`mlp`, MindDiffuser's forward hooks on `mlp.c_proj`)."""
    clip_input: Literal["clip", "minddiffuser"] = "clip"
    """CLIP's input: antialiased bicubic resize and CLIP's mean/std (`clip`), or MindDiffuser's: no antialiasing (bilinear for stimuli, bicubic for generated images) and ImageNet's mean/std."""
    context_tokens: Annotated[int, Field(ge=1, le=77)] | None = None
    """length of SD's text context: `null` = the tokenizer's 77, or 15 as MindDiffuser's `v1-inference.yaml` (`max_length: 15`: captions are cut to 15 tokens, the last the end token). At least `text_tokens`."""
    captions: Annotated[int, Field(ge=1)] | None = None
    """captions averaged per image: `null` = all (Brain-Diffuser), or the first N (MindDiffuser: 5)."""

    _unique_layers = field_validator("clip_layers")(_unique)


class VoxelsPerTarget(Section):
    """Voxels each target of a kind uses with `regression: fastl2lir` (MindDiffuser's training scripts' `n_feat`)."""

    sd_latent: int = Field(3000, ge=1)
    """SD latent (`detail_decoding.py`: 3000; its `Reconstruction.py` loads a 4000-voxel model)."""
    sd_text: int = Field(450, ge=1)
    """SD text tokens (`Semantic_feature_decoding.py`: 450; `Reconstruction.py` loads a 125-voxel model)."""
    clip: int = Field(850, ge=1)
    """CLIP layers and embedding (`Structural_feature_decoding.py`: 850)."""


class MindDiffuserDecoding(MindDiffuserTargets):
    """MindDiffuser's L2 decoders: the settings its decoder stage takes."""

    regression: Literal["ridge", "fastl2lir"] = "ridge"
    """`ridge`: per target group (a latent channel, a token, a CLIP layer) the `voxel_fraction` best-correlated voxels and a ridge with alpha chosen by `ridge.cv`; `fastl2lir`: MindDiffuser's own (FastL2LiR on z-scored voxels and targets): every target its `n_voxels` voxels of largest |r| and the one alpha of `alphas`, the CLIP dimensions ranked by mean |r| over `ridge.cv_folds` contiguous folds."""
    n_voxels: VoxelsPerTarget = Field(default_factory=VoxelsPerTarget)
    """voxels per target with `regression: fastl2lir`."""
    text_tokens: int = Field(15, ge=1, le=77)
    """first SD text-conditioning tokens decoded (15: start token + 14); tokens after them, up to `context_tokens`, are the training mean."""
    top_fraction: float = Field(0.25, gt=0, le=1)
    """share of each CLIP layer's dimensions decoded and matched, the most decodable on the training set (cross-validated) first."""
    voxel_fraction: float = Field(0.25, gt=0, le=1)
    """share of the visual voxels (both streams) each target group's regression uses, the best-correlated on the training set (`regression: ridge`)."""
    alphas: Alphas = Field(default_factory=lambda: [10.0, 1000.0, 100000.0])
    """ridge alphas of these L2 decoders (one value = fixed; several = chosen by `ridge.cv`; the paper: a fixed 0.15 on its own scaling)."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.context_tokens is not None and self.context_tokens < self.text_tokens:
            raise ValueError(f"context_tokens ({self.context_tokens}) must be at least text_tokens ({self.text_tokens})")
        if self.regression == "fastl2lir" and len(self.alphas) != 1:
            raise ValueError(f"regression fastl2lir takes one alpha (MindDiffuser: 0.15), got alphas {self.alphas}")
        return self


class MindDiffuserSampler(Section):
    """MindDiffuser's two stages: the settings its reconstruction stage takes."""

    num_inference_steps: int = Field(15, ge=1)
    """stage 1: SD img2img from the decoded latent; DDIM 50 at strength 0.75 runs 37 steps (the original `img2img.py`: `t_enc = int(0.75·50)`)."""
    strength: float = Field(0.75, ge=0, le=1)
    """stage 1 img2img strength."""
    guidance_scale: float = Field(5.0, ge=1)
    """stage 1 classifier-free guidance (paper: 5)."""
    schedule: Literal["diffusers", "minddiffuser"] = "diffusers"
    """where the decoded latent is noised and which DDIM steps denoise it, in stage 1 and inside stage 2 (k = int(steps · strength)): `diffusers` (50 at 0.75: noise to t=721, 37 steps from it) or `minddiffuser` (`stochastic_encode(z, 37)` then `decode(…, 35)`: noise at DDIM index k, t=741, and denoise k-2 steps from t=681)."""
    seed: int = Field(0, ge=0)
    """the noise of image `i` comes from `seed + nsd_id`."""

    @model_validator(mode="after")
    def _strength_has_an_index(self):
        return _below_one(self)
    stage2: Stage2 = Field(default_factory=Stage2)
    """refinement by backpropagation."""


class MindDiffuser(MindDiffuserDecoding, MindDiffuserSampler):
    """MindDiffuser (Stable Diffusion v1-4 + CLIP ViT-B/32), used when `reconstruct.methods` lists `minddiffuser*`."""

    model: ModelSource = Field(
        default_factory=lambda: ModelSource(id="resources/models/tiny-stable-diffusion", seed=1)
    )
    """Stable Diffusion v1-4 (`CompVis/stable-diffusion-v1-4`); the tiny model's random seed is 1 because the tiny SD and VD share configs."""
    clip: ModelSource = Field(default_factory=lambda: ModelSource(id="resources/models/tiny-clip-vit-base-patch32"))
    """CLIP ViT-B/32 vision model (`openai/clip-vit-base-patch32`) whose layer features are decoded and matched."""
    batch_size: int = Field(16, ge=1)
    """images per batch; a killed run keeps finished batches (an execution setting: reruns nothing)."""


class Metrics(Section):
    """How the eight metrics are computed: the settings the evaluation stage takes."""

    convention: Literal["brain_diffuser", "mindeye"] = "brain_diffuser"
    """resizing conventions of `brain_diffuser` or `mindeye` (nsd.md §6e)."""
    ssim: Literal["standard", "legacy"] = "standard"
    """`standard` 2-D grey SSIM (MindEye numbers) or `legacy` per-column variant (Brain-Diffuser's numbers)."""
    feature_weights: Literal["auto", "random"] = "auto"
    """`auto`: pretrained torchvision weights when present in the torch hub cache, else random weights, labelled in every table; `random`: always random."""
    clip_id: str = "resources/models/tiny-versatile-diffusion"
    """CLIP ViT-L/14 for the CLIP metric (`openai/clip-vit-large-patch14`), or a folder whose `image_encoder` config builds one."""
    clip_random_init: bool = False
    """random CLIP weights from the config. Without it, CLIP weights that cannot be loaded give one warning and random weights (labelled so); with no config either, the CLIP metric is left out (n/a)."""
    input_size: Annotated[int, Field(ge=75)] | None = 80
    """side every torchvision metric network is fed at; `null` keeps the convention's sizes (224 under `brain_diffuser`), as published comparisons need. The embedded default's 64-px scenes gain nothing from more. At least 75 (Inception)."""


class Evaluate(Metrics):
    """The eight metrics on the test images."""

    batch_size: int = Field(32, ge=1)
    """images per batch through the feature networks (an execution setting: reruns nothing)."""


class RoiGroup(Section):
    """A named ROI group of the pathway figure."""

    group: str = Field(json_schema_extra={"not": {"const": "other"}})
    """the group's name (not `other`, which collects the remaining voxels)."""
    labels: LabelSets
    """label sets, as in `masks`."""

    @field_validator("group")
    @classmethod
    def _not_other(cls, group: str) -> str:
        if group == "other":
            raise ValueError("'other' is reserved for voxels in no listed group")
        return group


def _default_roi_groups() -> list[RoiGroup]:
    groups = [
        ("V1", {"prf-visualrois": ["V1v", "V1d"]}),
        ("V2", {"prf-visualrois": ["V2v", "V2d"]}),
        ("V3", {"prf-visualrois": ["V3v", "V3d"]}),
        ("hV4", {"prf-visualrois": ["hV4"]}),
        *((c, {f"floc-{c}": "all"}) for c in ("faces", "bodies", "places", "words")),
        ("early", {"streams": ["early"]}),
        ("mid", {"streams": ["midventral", "midlateral", "midparietal"]}),
        *((s, {"streams": [s]}) for s in ("ventral", "lateral", "parietal")),
    ]
    return [RoiGroup(group=name, labels=labels) for name, labels in groups]


class Figures(Section):
    """Paper figures."""

    n_images: int = Field(8, ge=1)
    """test images (rows) in each reconstruction grid (the first test NSD ids every method reconstructed)."""
    roi_groups: list[RoiGroup] = Field(default_factory=_default_roi_groups, min_length=1)
    """ROI groups for the pathway figure, a list of `{group: name, labels: {ROI file: label names or all}}`. A voxel's decoder weight counts for the first listed group that holds it, else for `other`. ROI files named here are fetched with the masks' ROI files."""


Source = Literal["synthetic", "nsd", "synthetic_things_eeg", "things_eeg", "synthetic_things_meg", "things_meg"]
MEEG_SOURCES = ("synthetic_things_eeg", "things_eeg", "synthetic_things_meg", "things_meg")
SUBJECT_PATTERNS = {"fmri": r"subj0[1-8]", "eeg": r"sub-(0[1-9]|10)", "meg": r"P[1-4]"}
"""Subject ids of each modality, as regular expressions (the workflow's wildcard constraints)."""
SUBJECT_PATTERN = "^(" + "|".join(SUBJECT_PATTERNS.values()) + ")$"


def modality(source: str) -> str:
    """``fmri``, ``eeg`` or ``meg``: the kind of data a ``source`` gives."""
    return "eeg" if source.endswith("things_eeg") else "meg" if source.endswith("things_meg") else "fmri"


Window = Annotated[list[float], Field(min_length=2, max_length=2)]


class MeegStream(Section):
    """One HAVIR stream read from sensors: a channel group and a time window (features = channels x samples)."""

    channels: str
    """regular expression a channel name must match (`re.search`), e.g. occipital/parietal EEG `^(O|PO|P)` or CTF `^M[LRZ][OP]`; `.` keeps every channel."""
    window: Window
    """start and end in seconds from stimulus onset (inclusive)."""


class MeegStreams(Section):
    """The structural/semantic split carried to time: early posterior activity and later activity of all sensors."""

    structural: MeegStream = Field(
        default_factory=lambda: MeegStream(channels=r"^(O|PO|P|M[LRZ][OP])", window=[0.05, 0.20])
    )
    """HAVIR's Structural Generator input (and pixel_ridge's): occipital/parietal channels (EEG `O*`, `PO*`, `P*`; CTF `M?O*`, `M?P*`), 0.05-0.20 s."""
    semantic: MeegStream = Field(default_factory=lambda: MeegStream(channels=".", window=[0.20, 0.60]))
    """HAVIR's Semantic Extractor input: all channels, 0.20-0.60 s."""


class TemporalDecoding(Section):
    """Interpretability in time and space: sliding-window ridge decoding and decoder topographies."""

    width_s: float = Field(0.05, gt=0)
    """sliding window width in seconds (all channels, every sample inside)."""
    step_s: float = Field(0.02, gt=0)
    """step between window starts in seconds."""
    targets: list[Literal["vae_latent", "clip_image", "clip_text"]] = Field(
        default_factory=lambda: ["vae_latent", "clip_image", "clip_text"], min_length=1, json_schema_extra={"uniqueItems": True}
    )
    """targets decoded per window: two-way identification of the test images in each target's feature space."""
    topography_windows: list[Window] = Field(
        default_factory=lambda: [[0.05, 0.15], [0.15, 0.30], [0.30, 0.60]], min_length=1
    )
    """windows (seconds) whose decoders' activation patterns are drawn on the sensor layout."""


class SyntheticMeeg(Section):
    """The generated THINGS-EEG2 / THINGS-MEG world (`source: synthetic_things_eeg` or `synthetic_things_meg`)."""

    seed: int = Field(0, ge=0)
    """seed of everything generated."""
    n_concepts: int = Field(100, ge=4)
    """concepts with training images (EEG: training concepts, real 1654; MEG: all concepts, real 1854)."""
    n_exemplars: int = Field(3, ge=1)
    """training images per concept (EEG real: 10; MEG real: 12)."""
    n_test_concepts: int = Field(30, ge=2)
    """concepts with one test image (real: 200)."""
    repetitions: int = Field(4, ge=1)
    """EEG: repetitions of each training image (real: 4); MEG shows them once, as the real set."""
    test_repetitions: int = Field(20, ge=1)
    """EEG: repetitions of each test image (real: 80); MEG: always 12, as the real set."""
    eeg_channels: Literal[17, 63] = 63
    """EEG channel set: the authors' 17 occipital/parietal channels or the 63 of re-preprocessings (ATM)."""
    n_sensors: int = Field(48, ge=3, le=275)
    """MEG: CTF-275 sensors kept (real: 271)."""
    image_size: int = Field(64, ge=16)
    """image side in pixels (real: 500)."""
    snr: float = Field(0.5, gt=0)
    """single-trial signal std / noise std of a sensor of amplitude 1 at a feature's peak."""


class Meeg(Section):
    """EEG and MEG (THINGS-EEG2, THINGS-MEG): where the data are and how sensor responses become decoder inputs."""

    root: str = "resources/synthetic_things_eeg"
    """local folder of the dataset in its own layout (THINGS-EEG2: `preprocessed_data/sub-XX/...`, `image_set/...`; THINGS-MEG: `derivatives/preprocessed/...`, `sourcedata/...`)."""
    things_images: str = "resources/things_images"
    """THINGS-MEG only: the THINGS database's object images, `<concept>/<concept>_<nn>s.jpg` (password-protected archive on OSF `jum2f`, fetched by hand; a missing folder stops the run saying so)."""
    osf_api: str = Field("https://api.osf.io/v2/", pattern=r"^https?://")
    """OSF's API, where THINGS-EEG2's files are found by name (preprocessed data: project `anp5v`, one `sub-XX.zip` a subject; images: project `y63gw`) with the size and SHA-256 they are checked against (changing it reruns nothing)."""
    meg_url: str = Field("https://s3.amazonaws.com/openneuro.org/ds004212/", pattern=r"^https?://")
    """THINGS-MEG's OpenNeuro bucket (ds004212), fetched by key (changing it reruns nothing)."""
    channels: list[str] | None = None
    """channels read, in this order (`null`: all in the file)."""
    window: Window = Field(default_factory=lambda: [-0.1, 0.75])
    """seconds read from each epoch; the stream windows and the sliding windows lie inside."""
    train_trials: Literal["averaged", "single"] = "averaged"
    """`averaged`: one train row per image, the mean of its repetitions; `single`: one row per repetition. Test rows are always one per image."""
    test_repetitions: Annotated[int, Field(ge=1)] | None = None
    """test repetitions averaged (the first N; `null`: all, EEG 80, MEG 12)."""
    decimate: int = Field(1, ge=1)
    """average every N consecutive samples into one: of each stream window (the decoder features) and of the sensor responses the temporal decoding reads (1 keeps every sample)."""
    image_size: int = Field(64, ge=16)
    """side of the stimuli in `results/{subject}/stimuli.h5` (images resized, RGB)."""
    streams: MeegStreams = Field(default_factory=MeegStreams)
    """channel group and window of each HAVIR stream."""
    temporal: TemporalDecoding = Field(default_factory=TemporalDecoding)
    """sliding-window decoding and topographies."""
    synthetic: SyntheticMeeg = Field(default_factory=SyntheticMeeg)
    """the generated worlds."""


class Config(Section):
    """Configuration of the NSD reconstruction pipeline; the defaults are the embedded default."""

    source: Source = "synthetic"
    """where the data come from. fMRI: `synthetic` (generate a small dataset in NSD's exact key layout and formats) or `nsd` (fetch the keys the run needs from the public bucket). EEG/MEG (section `meeg`): `things_eeg` (THINGS-EEG2 from OSF), `things_meg` (THINGS-MEG from OpenNeuro ds004212), or the generated worlds in their formats, `synthetic_things_eeg` and `synthetic_things_meg`."""
    nsd_root: str = "resources/synthetic_nsd"
    """local folder mirroring the bucket's key layout (`nsddata/...`, `nsddata_betas/...`, `nsddata_stimuli/...`); a run with `source: nsd` refuses a folder holding the synthetic dataset's `synthetic_truth.h5`."""
    nsd_url: str = Field("https://natural-scenes-dataset.s3.amazonaws.com/", pattern=r"^https?://")
    """base URL of the NSD bucket (changing it reruns nothing)."""
    subjects: list[Annotated[str, Field(pattern=SUBJECT_PATTERN)]] = Field(
        default_factory=lambda: ["subj01", "subj02"], min_length=1, json_schema_extra={"uniqueItems": True}
    )
    """NSD: `subj01`..`subj08` (the field's comparisons use subjects 1, 2, 5, 7, all 40 sessions); THINGS-EEG2: `sub-01`..`sub-10` (ATM reports subject 8); THINGS-MEG: `P1`..`P4`. They must fit `source`."""
    stimuli: Literal["subset", "full"] = "subset"
    """`subset`: each subject's stimuli are the images it saw in the configured sessions, copied out of `imgBrick` into `results/{subject}/stimuli.h5` (for `source: nsd`, by HTTP range requests on the bucket's 40 GB `nsd_stimuli.hdf5`, about 5.4 GB per subject); `full`: every stage reads the whole `nsd_stimuli.hdf5`, downloaded first."""
    download: Download = Field(default_factory=Download)
    synthetic: Synthetic = Field(default_factory=Synthetic)
    betas: Betas = Field(default_factory=Betas)
    masks: Masks = Field(default_factory=Masks)
    models: Models = Field(default_factory=Models)
    features: Features = Field(default_factory=Features)
    ridge: Ridge = Field(default_factory=Ridge)
    decoders: Decoders = Field(default_factory=Decoders)
    reconstruct: Reconstruct = Field(default_factory=Reconstruct)
    minddiffuser: MindDiffuser = Field(default_factory=MindDiffuser)
    evaluate: Evaluate = Field(default_factory=Evaluate)
    figures: Figures = Field(default_factory=Figures)
    meeg: Meeg = Field(default_factory=Meeg)

    _unique_subjects = field_validator("subjects")(_unique)


class ConfigKeyError(ValueError):
    """A config that does not fit :class:`Config`; the message names every wrong key and why."""


def load(config: Mapping[str, Any]) -> Config:
    """The typed config of a Snakemake ``config`` mapping; errors name the dotted key."""
    try:
        return Config.model_validate(config)
    except ValidationError as error:
        lines = [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in error.errors()]
        raise ConfigKeyError("config does not fit the schema:\n  " + "\n  ".join(lines)) from None


def json_schema() -> dict:
    """The JSON schema ``snakemake.utils.validate`` reads, generated from :class:`Config`."""
    schema = _without_titles(Config.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _without_titles(node: Any) -> Any:
    """Pydantic's schema minus the ``title`` it derives from every field name (noise in the file)."""
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


# ---------------------------------------------------------------- config/README.md key tables
ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README_FILE = ROOT / "config" / "README.md"
NSD_FILE = ROOT / "config" / "nsd.yaml"
BEGIN = "<!-- BEGIN key tables: generated by `python -m nsdrecon.settings` from nsdrecon/settings.py; do not edit -->"
END = "<!-- END key tables -->"
TOP_LEVEL = "data"


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, field info) of every leaf field, nested sections expanded."""
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Section):
            yield from _leaves(info.annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


MISSING = object()


def _value(config: Any, key: str) -> Any:
    """The value at a dotted key, or MISSING (a value may be null)."""
    for part in key.split("."):
        if not isinstance(config, Mapping) or part not in config:
            return MISSING
        config = config[part]
    return config


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return f"`{text}`" if len(text) <= 60 else "(see the yaml)"


def key_tables(nsd: Mapping[str, Any]) -> str:
    """The markdown key tables of ``config/README.md``: per section, each key's defaults and meaning."""
    default = Config().model_dump(mode="json")
    schema = Config.model_json_schema()
    defs = schema.get("$defs", {})
    blocks = [BEGIN]
    sections: dict[str, list[str]] = {}
    for key, info in _leaves(Config):
        rows = sections.setdefault(key.split(".")[0] if "." in key else TOP_LEVEL, [])
        allowed = _allowed_from_schema(_field_schema(schema, defs, key))
        nsd_value = _value(nsd, key)
        rows.append(
            f"| `{key}` | {_cell(_value(default, key))} | {'' if nsd_value is MISSING else _cell(nsd_value)} "
            f"| {allowed} | {(info.description or '').strip()} |"
        )
    for title, rows in sections.items():
        doc = "Where the data come from." if title == TOP_LEVEL else Config.model_fields[title].annotation.__doc__
        blocks += [f"### `{title}`" if title != TOP_LEVEL else "### data", "", doc.strip(), ""]
        blocks += ["| key | default | `nsd.yaml` | allowed | meaning |", "|---|---|---|---|---|", *rows, ""]
    blocks.append(END)
    return "\n".join(blocks)


def _field_schema(schema: dict, defs: dict, key: str) -> dict:
    node = schema
    for part in key.split("."):
        node = _resolve(node, defs)["properties"][part]
    return _resolve(node, defs)


def _resolve(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    return node


def _allowed_from_schema(node: dict) -> str:
    """A short human reading of a field's JSON schema: enum values, bounds, null."""
    options = node.get("anyOf", [node])
    parts = []
    for option in options:
        if option.get("type") == "null":
            parts.append("`null`")
        elif "enum" in option or "const" in option:
            parts.append(" \\| ".join(f"`{v}`" for v in option.get("enum", [option.get("const")])))
        elif option.get("type") == "array":
            items = option.get("items", {})
            inner = _allowed_from_schema(items) if items else ""
            parts.append(f"list of {inner or items.get('type', 'values')}")
        elif option.get("type") in ("integer", "number"):
            bounds = [
                f"{symbol} {option[k]}"
                for k, symbol in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
                if k in option
            ]
            parts.append(f"{option['type']} {', '.join(bounds)}".strip())
        elif option.get("type"):
            parts.append(option["type"])
    return " or ".join(parts)


def write_generated(check: bool) -> list[Path]:
    """Rewrite (or, with ``check``, compare) the generated schema and README tables; the stale files."""
    nsd = yaml.safe_load(NSD_FILE.read_text())
    schema_text = (
        "# Generated by `python -m nsdrecon.settings` from src/nsdrecon/settings.py; do not edit.\n"
        + yaml.safe_dump(json_schema(), sort_keys=False, allow_unicode=True, width=120)
    )
    readme = README_FILE.read_text()
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme_text = head + key_tables(nsd) + tail
    stale = [path for path, text in ((SCHEMA_FILE, schema_text), (README_FILE, readme_text)) if path.read_text() != text]
    if not check:
        for path in stale:
            path.write_text({SCHEMA_FILE: schema_text, README_FILE: readme_text}[path])
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ from the models")
    args = parser.parse_args(argv)
    stale = write_generated(check=args.check)
    for path in stale:
        print(f"{path.relative_to(ROOT)}: {'out of date' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
