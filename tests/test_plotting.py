"""Tests of nsdrecon.plotting: each figure writes a PNG and a PDF of paper size; inputs are validated."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nsdrecon.metrics import METRICS, WEIGHTS_RANDOM_MISSING, weights_column
from nsdrecon.plotting import plot_metric_bars, plot_reconstruction_grid, plot_subject_masks
from nsdrecon.plotting.style import wrap_label
from nsdrecon.tables import summarize


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def check_outputs(png, pdf, min_width, min_height):
    with Image.open(png) as image:
        width, height = image.size
    assert width >= min_width and height >= min_height, (width, height)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    assert not list(png.parent.glob(".*.part*"))  # no temporary files left behind


def test_reconstruction_grid(rng, tmp_path):
    stimuli = rng.integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
    recons = {
        name: rng.integers(0, 256, (10, 24, 24, 3), dtype=np.uint8)
        for name in ["havir", "havir_no_structure", "pixel_ridge"]
    }
    rc_before = dict(matplotlib.rcParams)
    png, pdf = tmp_path / "grid.png", tmp_path / "grid.pdf"
    plot_reconstruction_grid(
        stimuli, recons, png, pdf, n_images=5, image_labels=list(range(10)), title_note="images are noise"
    )
    check_outputs(png, pdf, min_width=600, min_height=900)
    with Image.open(png) as image:
        assert image.size[1] > image.size[0]  # 5 rows x 4 columns: taller than wide
    assert dict(matplotlib.rcParams) == rc_before  # the paper style does not leak
    with pytest.raises(ValueError, match="expected 10 reconstructions"):
        plot_reconstruction_grid(stimuli, {"havir": recons["havir"][:3]}, png, pdf)


def test_metric_bars(rng, tmp_path):
    rows = []
    for subject in ["subj01", "subj02"]:
        for method in ["havir", "pixel_ridge"]:
            for image in range(3):
                row = {"subject": subject, "method": method}
                row.update({metric: rng.random() for metric in METRICS})
                row[weights_column("AlexNet")] = WEIGHTS_RANDOM_MISSING
                rows.append(row)
    png, pdf = tmp_path / "bars.png", tmp_path / "bars.pdf"
    plot_metric_bars(summarize(pd.DataFrame(rows)), png, pdf, title_note="random-weight tiny models")
    check_outputs(png, pdf, min_width=1200, min_height=900)
    with pytest.raises(ValueError, match="lacks columns"):
        plot_metric_bars(pd.DataFrame({"subject": ["subj01"], "method": ["havir"]}), png, pdf)


def test_subject_masks(tmp_path):
    x, y, z = np.indices((18, 22, 18))
    background = np.exp(-((x - 9) ** 2 + (y - 11) ** 2 + (z - 9) ** 2) / 60.0)
    masks = {"structural": (background > 0.3) & (y < 8), "semantic": (background > 0.3) & (y >= 7)}
    png, pdf = tmp_path / "masks.png", tmp_path / "masks.pdf"
    plot_subject_masks(masks, background, png, pdf, subject="subj01", title_note="synthetic data")
    check_outputs(png, pdf, min_width=1200, min_height=600)
    with pytest.raises(ValueError, match=r"semantic mask: expected a bool array of shape \(18, 22, 18\)"):
        plot_subject_masks({"semantic": masks["semantic"][:-1]}, background, png, pdf, subject="subj01")


def test_wrap_label_breaks_after_underscores():
    assert wrap_label("havir_no_structure", width=10) == "havir_no_\nstructure"
    assert wrap_label("havir") == "havir"
