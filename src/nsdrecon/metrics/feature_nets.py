"""The feature networks of the high-level metrics and their preprocessing (``nsd.md`` §6b, §6c).

| network   | architecture (torchvision / transformers)  | layer(s) -> metric                              |
|-----------|--------------------------------------------|-------------------------------------------------|
| AlexNet   | ``alexnet``                                | ``features.4`` -> AlexNet(2), ``features.11`` -> AlexNet(5) |
| Inception | ``inception_v3`` (``transform_input=True``) | ``avgpool`` -> Inception                        |
| CLIP      | ``CLIPVisionModelWithProjection``          | projected image embedding -> CLIP               |
| EffNet-B  | ``efficientnet_b1``                        | ``avgpool`` -> EffNet-B                         |
| SwAV      | ``resnet50`` with SwAV weights             | ``avgpool`` -> SwAV                             |

Weights. Torchvision networks (and SwAV) use pretrained weights only if the
file is already in the torch hub cache (``torch.hub.get_dir()/checkpoints``);
nothing is ever downloaded. Otherwise (or with ``weights="random"``) they get
seeded random weights and a weights label saying so, which travels into the
metric tables and figures. CLIP is loaded from a Hugging Face id or a local
folder (a folder with an ``image_encoder`` subfolder, as Versatile Diffusion
ships, is read from that subfolder), or built from its config with seeded
random weights when ``clip_random_init`` is set or when its weights cannot be
loaded (one warning); with neither weights nor config it is left out (one
warning) and its metric is NaN. Pixel metrics never need any weights.

Input sizes: ``brain_diffuser`` feeds every network at 224 (PIL bilinear);
``mindeye`` at AlexNet 256, Inception 342, EffNet-B 255, SwAV 224. CLIP is
fed at its configured ``image_size`` under both (224 for ViT-L/14). EffNet-B
uses ImageNet weights V1 under ``brain_diffuser`` and V2 under ``mindeye``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision.models as tvm
from torch import nn
from tqdm.auto import tqdm

from nsdrecon.metrics.names import (
    NETWORKS,
    WEIGHTS_PRETRAINED,
    WEIGHTS_RANDOM_CONFIGURED,
    WEIGHTS_RANDOM_MISSING,
    WEIGHTS_TINY_TRAINED,
    check_convention,
)
from nsdrecon.images import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, check_images
from nsdrecon.metrics.resize import network_inputs
from nsdrecon.layout import tiny_trained
from nsdrecon.hub import pickle_weights_note, transformers_config
from nsdrecon.seeding import seeded

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CLIP_MEAN",
    "CLIP_STD",
    "SWAV_URL",
    "FeatureNetwork",
    "cached_checkpoint",
    "load_feature_networks",
]

logger = logging.getLogger(__name__)

SWAV_URL = "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"
WEIGHTS_CHOICES = ("auto", "random")


class FeatureNetwork:
    """A feature network with its preprocessing, ready to embed uint8 images.

    Attributes
    ----------
    name : network name, one of ``names.NETWORKS``
    weights_label : ``"pretrained"``, ``"random (configured)"`` or ``"random (no weights found)"``
    input_size : square input size the images are resized to
    convention : resizing convention (``"brain_diffuser"`` or ``"mindeye"``)
    metrics : names of the metrics whose features :meth:`extract` returns
    """

    def __init__(
        self,
        name: str,
        model: nn.Module,
        metrics: tuple[str, ...],
        input_size: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        convention: str,
        weights_label: str,
        device: str | torch.device = "cpu",
    ):
        self.name = name
        self.metrics = metrics
        self.input_size = input_size
        self.convention = convention
        self.weights_label = weights_label
        self.device = torch.device(device)
        self._model = model.eval().to(self.device)
        self._mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return (
            f"FeatureNetwork({self.name!r}, weights={self.weights_label!r}, input_size={self.input_size}, "
            f"convention={self.convention!r}, device={str(self.device)!r})"
        )

    def to(self, device: str | torch.device) -> FeatureNetwork:
        """Move the network to ``device`` (in place) and return it."""
        self.device = torch.device(device)
        self._model.to(self.device)
        self._mean = self._mean.to(self.device)
        self._std = self._std.to(self.device)
        return self

    def extract(self, images: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
        """Embed images, batch by batch.

        Parameters
        ----------
        images : uint8 array of shape (N, H, W, 3)
        batch_size : images per forward pass

        Returns
        -------
        dict mapping each metric name in :attr:`metrics` to a float32 array of shape (N, D).
        """
        images = check_images(f"{self.name} input", images)
        chunks: dict[str, list[np.ndarray]] = {metric: [] for metric in self.metrics}
        starts = range(0, len(images), batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc=f"{self.name} features", disable=None):
                batch = network_inputs(images[start : start + batch_size], self.input_size, self.convention)
                batch = (batch.to(self.device) - self._mean) / self._std
                for metric, features in self._model(batch).items():
                    chunks[metric].append(features.flatten(1).float().cpu().numpy())
        return {metric: np.concatenate(parts) for metric, parts in chunks.items()}


@dataclass(frozen=True)
class _TorchvisionSpec:
    """How to build one torch-hub-cached network."""

    name: str
    build: Callable[[], nn.Module]
    url: dict[str, str]  # convention -> checkpoint URL
    nodes: dict[str, str]  # module name -> metric name
    input_size: dict[str, int]  # convention -> input size
    adapt_state_dict: Callable[[dict], dict] = field(default=lambda state: state)
    optional_missing: frozenset[str] = frozenset()  # model keys the checkpoint may lack


def _swav_backbone(state: dict) -> dict:
    """Strip SwAV's DataParallel prefix and drop its projection head and prototypes."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if not key.startswith(("projection_head", "prototypes"))}


_TORCHVISION_SPECS = (
    _TorchvisionSpec(
        name="AlexNet",
        build=lambda: tvm.alexnet(weights=None),
        url=dict.fromkeys(("brain_diffuser", "mindeye"), tvm.AlexNet_Weights.IMAGENET1K_V1.url),
        nodes={"features.4": "AlexNet(2)", "features.11": "AlexNet(5)"},
        input_size={"brain_diffuser": 224, "mindeye": 256},
    ),
    _TorchvisionSpec(
        name="Inception",
        # transform_input=True is what torchvision sets whenever pretrained weights are requested
        build=lambda: tvm.inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False),
        url=dict.fromkeys(("brain_diffuser", "mindeye"), tvm.Inception_V3_Weights.IMAGENET1K_V1.url),
        nodes={"avgpool": "Inception"},
        input_size={"brain_diffuser": 224, "mindeye": 342},
    ),
    _TorchvisionSpec(
        name="EffNet-B",
        build=lambda: tvm.efficientnet_b1(weights=None),
        url={
            "brain_diffuser": tvm.EfficientNet_B1_Weights.IMAGENET1K_V1.url,
            "mindeye": tvm.EfficientNet_B1_Weights.IMAGENET1K_V2.url,
        },
        nodes={"avgpool": "EffNet-B"},
        input_size={"brain_diffuser": 224, "mindeye": 255},
    ),
    _TorchvisionSpec(
        name="SwAV",
        build=lambda: tvm.resnet50(weights=None),
        url=dict.fromkeys(("brain_diffuser", "mindeye"), SWAV_URL),
        nodes={"avgpool": "SwAV"},
        input_size={"brain_diffuser": 224, "mindeye": 224},
        adapt_state_dict=_swav_backbone,
        optional_missing=frozenset({"fc.weight", "fc.bias"}),  # SwAV ships no classifier
    ),
)


def cached_checkpoint(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url(url)`` keeps its file: ``<hub dir>/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _load_checkpoint(model: nn.Module, spec: _TorchvisionSpec, path: Path) -> None:
    state = spec.adapt_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = set(missing) - spec.optional_missing
    if missing or unexpected:
        raise ValueError(
            f"{spec.name}: checkpoint {path} does not fit torchvision's architecture: "
            f"missing keys {sorted(missing)[:5]}, unexpected keys {sorted(unexpected)[:5]}"
        )


def _torchvision_network(
    spec: _TorchvisionSpec,
    weights: str,
    convention: str,
    seed: int,
    device: str | torch.device,
    input_size: int | None = None,
) -> FeatureNetwork:
    model = seeded(spec.build, seed)
    path = cached_checkpoint(spec.url[convention])
    if weights == "random":
        label = WEIGHTS_RANDOM_CONFIGURED
    elif path.is_file():
        _load_checkpoint(model, spec, path)
        label = WEIGHTS_PRETRAINED
    else:
        label = WEIGHTS_RANDOM_MISSING
        logger.warning(
            "%s: pretrained weights not found at %s; using seeded random weights, so its metrics are NOT "
            "comparable with published values. To use the real weights, download %s into %s on a machine "
            "with internet (or point TORCH_HOME at a cache that has it).",
            spec.name,
            path,
            spec.url[convention],
            path.parent,
        )
    model.eval()
    return FeatureNetwork(
        name=spec.name,
        model=_LayerOutputs(model, spec.nodes),
        metrics=tuple(spec.nodes.values()),
        input_size=input_size or spec.input_size[convention],
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        convention=convention,
        weights_label=label,
        device=device,
    )


class _LayerOutputs(nn.Module):
    """Run ``model`` and return the outputs of its named submodules as ``{metric: tensor}``.

    Forward hooks rather than torchvision's FX ``create_feature_extractor``:
    the same tensors, without tracing the graph on every load (~0.7 s a network
    on a CPU core, paid by every evaluate job).
    """

    def __init__(self, model: nn.Module, modules: dict[str, str]):
        super().__init__()
        self.model = model
        self._outputs: dict[str, torch.Tensor] = {}
        named = dict(model.named_modules())
        for module_name, metric in modules.items():
            named[module_name].register_forward_hook(self._keep(metric))

    def _keep(self, metric: str):
        def hook(module, inputs, output):
            self._outputs[metric] = output.clone()  # clone: an in-place layer after it must not change it

        return hook

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._outputs = {}
        self.model(x)
        return dict(self._outputs)


class _ClipImageEmbedding(nn.Module):
    """Wrap a ``CLIPVisionModelWithProjection`` to return ``{"CLIP": image_embeds}``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"CLIP": self.model(pixel_values=pixel_values).image_embeds}


def _clip_network(
    source: str, random_init: bool, convention: str, seed: int, device: str | torch.device
) -> FeatureNetwork | None:
    """CLIP from ``source``; without loadable weights: random weights from its config, or None (left out).

    Missing weights give one warning (not an error) so that the other metrics still run.
    """
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    subfolder = "image_encoder" if (Path(source) / "image_encoder" / "config.json").is_file() else ""
    model = None
    if not random_init:
        try:
            model = CLIPVisionModelWithProjection.from_pretrained(
                source, subfolder=subfolder, dtype=torch.float32, use_safetensors=True
            )
            label = WEIGHTS_TINY_TRAINED if tiny_trained(source) else WEIGHTS_PRETRAINED
        except OSError as exc:
            reason = f"could not load pretrained weights from {source!r} ({str(exc).splitlines()[0]})"
            reason += pickle_weights_note(source, subfolder)
    if model is None:
        try:
            config = transformers_config(CLIPVisionConfig, source, subfolder=subfolder)
        except OSError as exc:
            if random_init:
                raise FileNotFoundError(
                    f"CLIP: no vision config found in {source!r} (looked in subfolder {subfolder!r}): {exc}"
                ) from exc
            logger.warning(
                "CLIP: %s and no config to build it from; the CLIP metric is left out (NaN). On a machine with "
                "internet run `hf download %s` (or give a local folder) and set HF_HUB_OFFLINE=1.",
                reason,
                source,
            )
            return None
        model = seeded(lambda: CLIPVisionModelWithProjection(config), seed)
        label = WEIGHTS_RANDOM_CONFIGURED if random_init else WEIGHTS_RANDOM_MISSING
        if not random_init:
            logger.warning(
                "CLIP: %s; using seeded random weights from its config, so the CLIP metric is NOT comparable "
                "with published values. On a machine with internet run `hf download %s` (or give a local folder).",
                reason,
                source,
            )
    size = int(model.config.image_size)
    return FeatureNetwork(
        name="CLIP",
        model=_ClipImageEmbedding(model),
        metrics=("CLIP",),
        input_size=size,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        convention=convention,
        weights_label=label,
        device=device,
    )


def load_feature_networks(
    weights: str = "auto",
    clip_source: str | None = "openai/clip-vit-large-patch14",
    clip_random_init: bool = False,
    device: str | torch.device = "cpu",
    convention: str = "brain_diffuser",
    seed: int = 0,
    names: Sequence[str] = NETWORKS,
    input_size: int | None = None,
) -> list[FeatureNetwork]:
    """Build the five feature networks of the high-level metrics.

    Parameters
    ----------
    weights : ``"auto"`` (pretrained where the checkpoint is already in the torch
        hub cache, else seeded random weights and one warning per network) or
        ``"random"`` (seeded random weights for every torchvision network).
        Never downloads anything.
    clip_source : Hugging Face id or local folder of the CLIP vision model
        (``"openai/clip-vit-large-patch14"``; a Versatile Diffusion folder is
        read from its ``image_encoder`` subfolder); ``None`` leaves CLIP out.
    clip_random_init : build CLIP from ``clip_source``'s config with seeded
        random weights instead of loading its weights. Without it, CLIP weights
        that cannot be loaded give one warning and random weights from the
        config (labelled so), or, with no config either, no CLIP network.
    device : torch device the networks run on.
    convention : ``"brain_diffuser"`` or ``"mindeye"`` (input sizes, EffNet-B weights).
    seed : seed of every random initialisation.
    names : which networks to build (subset of ``names.NETWORKS``).
    input_size : side every torchvision network is fed at instead of the
        convention's (published comparisons need ``None``; small generated
        images gain nothing from being upsampled to 224, and Inception needs
        at least 75).

    Returns
    -------
    list of :class:`FeatureNetwork` in the order AlexNet, Inception, CLIP, EffNet-B, SwAV
    (only those in ``names``; without CLIP when ``clip_source`` is None).
    """
    check_convention(convention)
    if weights not in WEIGHTS_CHOICES:
        raise ValueError(f"unknown feature weights {weights!r}; expected one of {list(WEIGHTS_CHOICES)}")
    unknown = sorted(set(names) - set(NETWORKS))
    if unknown:
        raise ValueError(f"unknown feature networks {unknown}; expected names from {list(NETWORKS)}")
    specs = {spec.name: spec for spec in _TORCHVISION_SPECS}
    networks = []
    for name in NETWORKS:
        if name not in names:
            continue
        if name == "CLIP":
            clip = None if clip_source is None else _clip_network(clip_source, clip_random_init, convention, seed, device)
            networks += [clip] if clip is not None else []
        else:
            networks.append(_torchvision_network(specs[name], weights, convention, seed, device, input_size))
    return networks
