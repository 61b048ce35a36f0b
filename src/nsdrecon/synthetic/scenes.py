"""Procedural scenes: the synthetic world's stimuli, with a known description.

Each scene is a background (a named colour, plain or shaded) and one to three
objects, each with a shape, a colour name, a size, a position and a texture.
Scenes are sampled and rendered in bulk from integer codes held in a
:class:`SceneTable`; :meth:`SceneTable.spec` gives the readable
:class:`SceneSpec` of one scene, from which captions are written
(:mod:`nsdrecon.synthetic.captions`) and from which :func:`semantic_features`
derives the semantic feature vector that semantic voxels respond to.

Image coordinates are ``x`` (column, left to right) and ``y`` (row, top to
bottom), both in [-1, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "BACKGROUNDS",
    "BACKGROUND_STYLES",
    "COLOURS",
    "MAX_OBJECTS",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "TEXTURES",
    "ObjectSpec",
    "SceneSpec",
    "SceneTable",
    "render_scenes",
    "sample_scenes",
    "semantic_feature_names",
    "semantic_features",
]

MAX_OBJECTS = 3
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
COLOURS = {
    "red": (0.85, 0.12, 0.10),
    "orange": (0.95, 0.55, 0.10),
    "yellow": (0.95, 0.88, 0.15),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "purple": (0.50, 0.18, 0.65),
    "pink": (0.95, 0.55, 0.70),
    "white": (0.96, 0.96, 0.96),
    "black": (0.06, 0.06, 0.06),
    "brown": (0.45, 0.28, 0.12),
}
BACKGROUNDS = {
    "light blue": (0.62, 0.80, 0.95),
    "dark green": (0.10, 0.32, 0.16),
    "beige": (0.90, 0.84, 0.68),
    "grey": (0.55, 0.55, 0.55),
    "navy": (0.06, 0.09, 0.30),
    "pale yellow": (0.98, 0.95, 0.70),
}
BACKGROUND_STYLES = ("plain", "vertical gradient", "horizontal gradient")
SIZES = {"small": 0.2, "large": 0.38}  # nominal radius, in half image widths
POSITIONS = {"left": (-0.5, 0.0), "right": (0.5, 0.0), "top": (0.0, -0.5), "bottom": (0.0, 0.5), "centre": (0.0, 0.0)}
TEXTURES = ("plain", "striped", "dotted")

_POSITION_JITTER = 0.12
_SIZE_JITTER = 0.1
_PATTERN_SHADE = 0.45  # stripes and dots are the object colour scaled by this


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene, every attribute a vocabulary word."""

    shape: str
    colour: str
    size: str
    position: str
    texture: str


@dataclass(frozen=True)
class SceneSpec:
    """A scene's readable description: background and 1..3 objects (drawn in order)."""

    background: str
    background_style: str
    objects: tuple[ObjectSpec, ...]


@dataclass(frozen=True, eq=False)
class SceneTable:
    """Many scenes as integer codes into the vocabularies above.

    Attributes
    ----------
    background, background_style, n_objects : ndarray of int64, shape (n_scenes,)
    shape, colour, size, position, texture : ndarray of int64, shape (n_scenes, MAX_OBJECTS)
        Codes per object slot; slots ``>= n_objects`` hold -1.
    centre : ndarray of float32, shape (n_scenes, MAX_OBJECTS, 2)
        Drawn (x, y) centre of each object (nominal position plus jitter).
    radius : ndarray of float32, shape (n_scenes, MAX_OBJECTS)
        Drawn radius in half image widths.
    """

    background: np.ndarray
    background_style: np.ndarray
    n_objects: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    texture: np.ndarray
    centre: np.ndarray
    radius: np.ndarray

    def __len__(self) -> int:
        return len(self.background)

    def subset(self, rows: slice | np.ndarray) -> "SceneTable":
        """The scenes at ``rows``, as a new table."""
        return SceneTable(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})

    def spec(self, i: int) -> SceneSpec:
        """The readable description of scene ``i``."""
        objects = tuple(
            ObjectSpec(
                shape=SHAPES[self.shape[i, j]],
                colour=list(COLOURS)[self.colour[i, j]],
                size=list(SIZES)[self.size[i, j]],
                position=list(POSITIONS)[self.position[i, j]],
                texture=TEXTURES[self.texture[i, j]],
            )
            for j in range(self.n_objects[i])
        )
        return SceneSpec(list(BACKGROUNDS)[self.background[i]], BACKGROUND_STYLES[self.background_style[i]], objects)


def sample_scenes(rng: np.random.Generator, n: int) -> SceneTable:
    """Draw ``n`` random scenes; each scene's objects sit at distinct positions.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int

    Returns
    -------
    SceneTable
    """
    n_objects = rng.integers(1, MAX_OBJECTS + 1, size=n)
    unused = np.arange(MAX_OBJECTS)[None, :] >= n_objects[:, None]

    def codes(n_values: int) -> np.ndarray:
        return np.where(unused, -1, rng.integers(0, n_values, size=(n, MAX_OBJECTS)))

    position = np.argsort(rng.random((n, len(POSITIONS))), axis=1)[:, :MAX_OBJECTS]
    position = np.where(unused, -1, position)
    size = codes(len(SIZES))
    nominal_centre = np.asarray(list(POSITIONS.values()), dtype=np.float32)[np.maximum(position, 0)]
    centre = nominal_centre + rng.uniform(-_POSITION_JITTER, _POSITION_JITTER, size=(n, MAX_OBJECTS, 2))
    nominal_radius = np.asarray(list(SIZES.values()), dtype=np.float32)[np.maximum(size, 0)]
    radius = nominal_radius * (1 + rng.uniform(-_SIZE_JITTER, _SIZE_JITTER, size=(n, MAX_OBJECTS)))
    return SceneTable(
        background=rng.integers(0, len(BACKGROUNDS), size=n),
        background_style=rng.integers(0, len(BACKGROUND_STYLES), size=n),
        n_objects=n_objects,
        shape=codes(len(SHAPES)),
        colour=codes(len(COLOURS)),
        size=size,
        position=position,
        texture=codes(len(TEXTURES)),
        centre=np.where(unused[..., None], np.nan, centre).astype(np.float32),
        radius=np.where(unused, np.nan, radius).astype(np.float32),
    )


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a unit-radius ``shape`` at object coordinates (u, v), v pointing down."""
    if shape == "circle":
        return u**2 + v**2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == "triangle":  # apex up
        return (v <= 0.75) & (np.abs(u) <= (v + 1.0) / 1.75)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    if shape == "ring":
        radius2 = u**2 + v**2
        return (radius2 <= 1.0) & (radius2 >= 0.36)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _texture_mask(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where the pattern of ``texture`` darkens the object (all False for plain)."""
    if texture == "plain":
        return np.zeros(u.shape, dtype=bool)
    if texture == "striped":  # diagonal stripes, 4 per object diameter
        return np.floor((u + v) * 2.0) % 2 == 1
    if texture == "dotted":  # a dot of radius 0.1 on a 0.4 lattice
        du, dv = u * 2.5, v * 2.5
        return (du - np.round(du)) ** 2 + (dv - np.round(dv)) ** 2 <= 0.07
    raise ValueError(f"unknown texture {texture!r}; known: {TEXTURES}")


def _render_batch(table: SceneTable, image_size: int) -> np.ndarray:
    """Render every scene of ``table``; returns float32 (n, S, S, 3) in [0, 1]."""
    grid = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size * 2 - 1
    y, x = np.meshgrid(grid, grid, indexing="ij")
    n = len(table)
    shading = np.ones((n, image_size, image_size), dtype=np.float32)
    shading[table.background_style == 1] = 1.0 - 0.35 * (y + 1) / 2
    shading[table.background_style == 2] = 1.0 - 0.35 * (x + 1) / 2
    background = np.asarray(list(BACKGROUNDS.values()), dtype=np.float32)[table.background]
    images = shading[..., None] * background[:, None, None, :]
    colours = np.asarray(list(COLOURS.values()), dtype=np.float32)
    for slot in range(MAX_OBJECTS):  # unused slots have NaN geometry and code -1: never drawn
        radius = table.radius[:, slot, None, None]
        u = (x - table.centre[:, slot, 0, None, None]) / radius
        v = (y - table.centre[:, slot, 1, None, None]) / radius
        inside = np.zeros(u.shape, dtype=bool)
        for code, shape in enumerate(SHAPES):
            chosen = table.shape[:, slot] == code
            inside[chosen] = _shape_mask(shape, u[chosen], v[chosen])
        pattern = np.zeros(u.shape, dtype=bool)
        for code, texture in enumerate(TEXTURES):
            chosen = table.texture[:, slot] == code
            pattern[chosen] = _texture_mask(texture, u[chosen], v[chosen])
        colour = colours[table.colour[:, slot]][:, None, None, :]
        dark = np.where(colour.max(axis=-1, keepdims=True) < 0.2, 0.5, colour * _PATTERN_SHADE)
        np.copyto(images, colour, where=(inside & ~pattern)[..., None])
        np.copyto(images, dark, where=(inside & pattern)[..., None])
    return images


def render_scenes(table: SceneTable, image_size: int, batch_size: int = 256) -> np.ndarray:
    """Render scenes to RGB images (callers stream large tables through in slices).

    Parameters
    ----------
    table : SceneTable
        ``n`` scenes.
    image_size : int
        Side length S in pixels.
    batch_size : int, default=256
        Scenes rendered at once (float work memory about ``batch_size * S * S * 40`` bytes).

    Returns
    -------
    ndarray of uint8, shape (n, S, S, 3)
    """
    out = np.empty((len(table), image_size, image_size, 3), dtype=np.uint8)
    for start in range(0, len(table), batch_size):
        rows = slice(start, start + batch_size)
        out[rows] = np.round(_render_batch(table.subset(rows), image_size) * 255)
    return out


def semantic_feature_names() -> list[str]:
    """Names of the columns of :func:`semantic_features`, e.g. ``shape=circle``."""
    return (
        [f"shape={name}" for name in SHAPES]
        + [f"colour={name}" for name in COLOURS]
        + [f"texture={name}" for name in TEXTURES]
        + [f"size={name}" for name in SIZES]
        + [f"background={name}" for name in BACKGROUNDS]
        + [f"background_style={name}" for name in BACKGROUND_STYLES]
    )


def semantic_features(table: SceneTable) -> np.ndarray:
    """The semantic feature vector of each scene (position-free: what, not where).

    Object attributes are counted over the scene's objects (shape, colour,
    texture, size); the background colour and style are one-hot.

    Parameters
    ----------
    table : SceneTable
        ``n`` scenes.

    Returns
    -------
    ndarray of float32, shape (n, n_features)
        Columns named by :func:`semantic_feature_names`.
    """

    def counts(codes: np.ndarray, n_values: int) -> np.ndarray:
        onehot = codes[..., None] == np.arange(n_values)
        return onehot.sum(axis=1) if codes.ndim == 2 else onehot

    blocks = [
        counts(table.shape, len(SHAPES)),
        counts(table.colour, len(COLOURS)),
        counts(table.texture, len(TEXTURES)),
        counts(table.size, len(SIZES)),
        counts(table.background, len(BACKGROUNDS)),
        counts(table.background_style, len(BACKGROUND_STYLES)),
    ]
    return np.concatenate(blocks, axis=1).astype(np.float32)
