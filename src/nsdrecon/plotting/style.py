"""One figure style for the paper: sizes, fonts, colours, titles, atomic saving.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no
global backend or rcParams change); every plotting function draws and saves
inside :func:`paper_style`. Brain-slice figures are drawn by nilearn into the
rows of :func:`slice_rows`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import textwrap
from collections.abc import Iterator, Sequence

import matplotlib
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nsdrecon.atomic import atomic_path

__all__ = [
    "FULL_WIDTH_IN",
    "STREAM_COLOURS",
    "OVERLAP_COLOUR",
    "REFERENCE_COLOUR",
    "WARNING_COLOUR",
    "paper_style",
    "new_figure",
    "slice_rows",
    "method_colours",
    "wrap_label",
    "set_title",
    "save_figure",
]

FULL_WIDTH_IN = 7.0  # a two-column paper's text width, inches
PNG_DPI = 200

STREAM_COLOURS = {"structural": "#0072B2", "semantic": "#D55E00"}  # Okabe-Ito blue / vermillion
OVERLAP_COLOUR = "#CC79A7"
REFERENCE_COLOUR = "#4D4D4D"
WARNING_COLOUR = "#B2182B"

PAPER_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "pdf.fonttype": 42,  # editable text in the PDF
    "ps.fonttype": 42,
    "figure.facecolor": "white",
}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Context in which figures are drawn and saved with the paper rcParams.

    fontTools' per-glyph INFO messages while subsetting fonts into the PDF are
    held back inside it, so rule logs stay readable.
    """
    font_logger = logging.getLogger("fontTools")
    level = font_logger.level
    font_logger.setLevel(max(level, logging.WARNING))
    try:
        with matplotlib.rc_context(PAPER_RC):
            yield
    finally:
        font_logger.setLevel(level)


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches."""
    return Figure(figsize=(width, height), layout="constrained")


def slice_rows(fig: Figure, n_rows: int, *, left: float, right: float, bottom: float) -> list[Axes]:
    """``n_rows`` full-width axes stacked below ``fig``'s title (set it first), margins in inches.

    The positions are fixed, not constrained: nilearn places its slice axes where the host axes are when it
    draws into them, and would not follow a layout engine moving them afterwards.
    """
    fig.set_layout_engine("none")
    width, height = fig.get_size_inches()
    title = fig.get_suptitle()
    # suptitle: top at 98 % of the height, lines of 1.2 x figure.titlesize (9 pt)
    top = 0.02 * height + (title.count("\n") + 1) * 0.15 + 0.08 if title else 0.1
    grid = fig.add_gridspec(
        n_rows, 1, left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height, hspace=0.05
    )
    return [fig.add_subplot(cell) for cell in grid]


def method_colours(methods: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A colour-blind-safe colour per method, stable for a given method order."""
    palette = sns.color_palette("colorblind", n_colors=max(len(methods), 1))
    return dict(zip(methods, palette))


def wrap_label(text: str, width: int = 14) -> str:
    """Wrap a label at spaces and after underscores so it fits a narrow column."""
    lines = textwrap.wrap(text.replace("_", "_ "), width=width, break_long_words=False)
    return "\n".join(line.replace("_ ", "_") for line in lines)


def set_title(fig: Figure, title: str, title_note: str = "") -> None:
    """Figure title, with ``title_note`` (e.g. "random-weight tiny models: images are noise") below it."""
    # Wrap to the figure's width (about 15 characters per inch at the title font size) so nothing is clipped.
    width = max(20, int(fig.get_figwidth() * 15))
    fig.suptitle("\n".join(textwrap.wrap(title, width) + textwrap.wrap(title_note, width)))


def save_figure(fig: Figure, out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Save ``fig`` as PNG and PDF, each written atomically."""
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI)
    with atomic_path(out_pdf) as tmp:
        fig.savefig(tmp, format="pdf")
