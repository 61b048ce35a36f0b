"""Shared inputs of the authors'-code golden values: the harness (tests/golden/authors/harness) and the tests both use these.

NumPy only, so the harness can import them in its own environment (transformers 4.19, the authors' code).
"""

from __future__ import annotations

import numpy as np

CAPTIONS = [
    ["a red square on a blue field", "a small red box", "red and blue", "a square", "the blue background", "a sixth caption"],
    [
        "a green circle above a yellow triangle beside a large purple striped rectangle near the left edge",
        "green circle", "a triangle", "purple stripes", "shapes on a plain background",
    ],
]
"""Two images' captions: the second image's first caption runs past 15 tokens (MindDiffuser's context)."""

DDIM_TEXT_TOKENS = 3
"""Text tokens of the schedule inputs' contexts (then 5 image tokens)."""


def sample_image(seed: int, size: int) -> np.ndarray:
    """A smooth uint8 RGB image with fine texture: sinusoids plus seeded noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    channels = []
    for c in range(3):
        f1, f2, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (f1 * x + f2 * y) + phase) * np.cos(2 * np.pi * f2 * x * y + c)
        channels.append(127.5 + 100 * wave + rng.normal(0, 12, (size, size)))
    return np.clip(np.stack(channels, axis=-1), 0, 255).round().astype(np.uint8)


def schedule_inputs() -> dict[str, np.ndarray]:
    """Latent, noise and contexts of the DDIM schedule goldens (float32, numpy default_rng(7), in this order)."""
    rng = np.random.default_rng(7)
    draw = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    out = {"latent": draw(2, 4, 8, 8), "noise": draw(2, 4, 8, 8), "image": draw(2, 5, 6)}
    out["uncond_image"] = np.repeat(draw(1, 5, 6), 2, axis=0)
    out["text"] = draw(2, DDIM_TEXT_TOKENS, 6)
    out["uncond_text"] = np.repeat(draw(1, DDIM_TEXT_TOKENS, 6), 2, axis=0)
    return out


def decoder_data() -> tuple[np.ndarray, np.ndarray]:
    """Voxels (60, 30) and targets (60, 5) of the FastL2LiR golden (numpy default_rng(5))."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 30)) + rng.uniform(-2, 2, 30)
    W = rng.standard_normal((30, 5)) * (rng.uniform(0, 1, (30, 1)) > 0.6)
    Y = X @ W + rng.standard_normal((60, 5)) + 3.0
    return X, Y


MINDDIFFUSER_LAYERS = ["Linear-2", "Linear-4", "Linear-6", "Linear-8", "Linear-10", "Linear-12", "VisionTransformer-1"]


def loss_features() -> tuple[dict, dict, list]:
    """Targets (zero outside a 25 % mask), generated features and masks of MindDiffuser's six layers and embedding.

    numpy default_rng(11); layers 40 wide, the embedding 8. Returns ``(targets, generated, masks)``.
    """
    rng = np.random.default_rng(11)
    masks, target, generated = [], {}, {}
    for name in MINDDIFFUSER_LAYERS:
        dims = 8 if name == "VisionTransformer-1" else 40
        value = rng.standard_normal((1, dims)) * rng.uniform(0.5, 3)
        if name != "VisionTransformer-1":
            mask = np.zeros(dims)
            mask[rng.choice(dims, dims // 4, replace=False)] = 1
            masks.append(mask.reshape(1, -1))
            value = value * mask  # as decoding_target_layers: (null * std + mean) * null_mask
        target[name] = value.astype(np.float32)
        generated[name] = rng.standard_normal((1, dims)).astype(np.float32)
    return target, generated, masks
