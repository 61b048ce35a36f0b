"""Captions written from a scene's description, COCO style (five per image).

Each of the five captions uses its own sentence template and draws synonyms
at random, so the wording varies while every caption states the same scene:
each object's colour and shape (and, depending on the template, its size,
texture and position) and the background.
"""

from __future__ import annotations

import numpy as np

from .scenes import ObjectSpec, SceneSpec

__all__ = ["N_CAPTIONS", "scene_captions"]

N_CAPTIONS = 5

_SHAPE_WORDS = {
    "circle": ("circle", "disc", "round dot"),
    "square": ("square", "box", "square block"),
    "triangle": ("triangle", "triangular shape", "pyramid shape"),
    "diamond": ("diamond", "rhombus", "diamond shape"),
    "cross": ("cross", "plus sign", "cross shape"),
    "ring": ("ring", "hoop", "donut shape"),
}
_SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
_TEXTURE_ADJECTIVES = {"plain": ("", "plain", "solid"), "striped": ("striped",), "dotted": ("dotted", "spotted")}
_TEXTURE_PHRASES = {
    "plain": ("",),
    "striped": (" with stripes", " with diagonal stripes"),
    "dotted": (" with dots", " covered in dots"),
}
_POSITION_PHRASES = {
    "left": ("on the left", "at the left side", "to the left"),
    "right": ("on the right", "at the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
    "centre": ("in the centre", "in the middle", "at the center"),
}
_STYLE_WORDS = {
    "plain": ("plain", "flat", "uniform"),
    "vertical gradient": ("shaded", "fading"),
    "horizontal gradient": ("shaded", "fading"),
}
_COUNT_WORDS = {1: "one object", 2: "two objects", 3: "three objects"}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def _article(phrase: str) -> str:
    vowel_sound = phrase[:1] in "aeiou" and not phrase.startswith("uni")
    return f"an {phrase}" if vowel_sound else f"a {phrase}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _words(*words: str) -> str:
    return " ".join(word for word in words if word)


def _object_with_adjectives(obj: ObjectSpec, rng: np.random.Generator, position: bool) -> str:
    noun = _words(
        _pick(rng, _SIZE_WORDS[obj.size]),
        _pick(rng, _TEXTURE_ADJECTIVES[obj.texture]),
        obj.colour,
        _pick(rng, _SHAPE_WORDS[obj.shape]),
    )
    return _article(noun) + (f" {_pick(rng, _POSITION_PHRASES[obj.position])}" if position else "")


def _object_with_phrases(obj: ObjectSpec, rng: np.random.Generator) -> str:
    return (
        _article(_words(obj.colour, _pick(rng, _SHAPE_WORDS[obj.shape])))
        + _pick(rng, _TEXTURE_PHRASES[obj.texture])
        + f" {_pick(rng, _POSITION_PHRASES[obj.position])}"
    )


def scene_captions(spec: SceneSpec, rng: np.random.Generator) -> list[str]:
    """Five differently worded captions of one scene.

    Parameters
    ----------
    spec : SceneSpec
    rng : numpy.random.Generator
        Draws the synonyms.

    Returns
    -------
    list of str, length ``N_CAPTIONS``
    """
    style = _pick(rng, _STYLE_WORDS[spec.background_style])
    objects = spec.objects
    captions = [
        f"{_join([_object_with_adjectives(o, rng, position=True) for o in objects])} on a {style} {spec.background} background.",
        f"A picture of {_join([_object_with_phrases(o, rng) for o in objects])}, against a {spec.background} backdrop.",
        f"{_COUNT_WORDS[len(objects)]} on {spec.background}: "
        f"{_join([_object_with_adjectives(o, rng, position=False) for o in objects])}.",
        f"{_article(_words(style, spec.background))} background with "
        f"{_join([_object_with_adjectives(o, rng, position=True) for o in objects])}.",
        f"An image showing {_join([_object_with_phrases(o, rng) for o in objects])}; the background is {spec.background}.",
    ]
    return [caption[0].upper() + caption[1:] for caption in captions]
