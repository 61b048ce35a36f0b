"""Tests of nsdrecon.plotting: each figure writes a PNG and a PDF of paper size; inputs are validated."""

import subprocess
import sys

import matplotlib
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nsdrecon.interpretability import roi_weight_shares
from nsdrecon.metrics import METRICS, WEIGHTS_RANDOM_MISSING, weights_column
from nsdrecon.plotting import (
    plot_ablations,
    plot_metric_bars,
    plot_pathways,
    plot_reconstruction_grid,
    plot_subject_masks,
    plot_weight_maps,
    weight_volume,
)
from nsdrecon.plotting.masks import cut_coords
from nsdrecon.plotting.style import wrap_label
from nsdrecon.published import read_published_results
from nsdrecon.tables import summarize, write_tables


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def figure_texts(fig):
    """Every text drawn in the figure's axes (nilearn's slice positions and L/R marks, row labels)."""
    return [text.get_text() for ax in fig.axes for text in ax.texts]


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


def per_image_metrics(rng, subjects, methods, n_images=3):
    rows = []
    for subject in subjects:
        for method in methods:
            for image in range(n_images):
                row = {"subject": subject, "method": method}
                row.update({metric: rng.random() for metric in METRICS})
                row[weights_column("AlexNet")] = WEIGHTS_RANDOM_MISSING
                rows.append(row)
    return pd.DataFrame(rows)


def test_metric_bars(rng, tmp_path, caplog):
    summary = summarize(per_image_metrics(rng, ["subj01", "subj02"], ["havir", "pixel_ridge"]))
    png, pdf = tmp_path / "bars.png", tmp_path / "bars.pdf"
    plot_metric_bars(summary, png, pdf, title_note="random-weight tiny models")
    check_outputs(png, pdf, min_width=1200, min_height=900)
    with pytest.raises(ValueError, match="lacks columns"):
        plot_metric_bars(pd.DataFrame({"subject": ["subj01"], "method": ["havir"]}), png, pdf)

    # the metrics TSV holds the published rows too: they are drawn once, as reference markers, not as bars
    paths = [tmp_path / f"metrics.{kind}" for kind in ("tsv", "md", "tex")]
    write_tables(summary, *paths, references=read_published_results())
    table = pd.read_csv(paths[0], sep="\t")
    assert (table["source"] == "published").sum() == 5
    with caplog.at_level("INFO", logger="nsdrecon.plotting.metrics"):
        plot_metric_bars(table, png, pdf)
    assert "metric bars (2 methods x 3 subjects)" in caplog.text


def test_ablations(rng, tmp_path, caplog):
    methods = ["havir", "havir_no_structure", "havir_no_text", "pixel_ridge"]
    summary = summarize(per_image_metrics(rng, ["subj01", "subj02", "subj05"], methods))
    png, pdf = tmp_path / "ablations.png", tmp_path / "ablations.pdf"
    with caplog.at_level("INFO", logger="nsdrecon.plotting.ablations"):
        plot_ablations(summary, png, pdf, title_note="tiny random-weight models")
    assert "ablations ['havir_no_structure', 'havir_no_text'] vs havir (3 subjects)" in caplog.text
    check_outputs(png, pdf, min_width=1200, min_height=900)
    with pytest.raises(ValueError, match="at least one ablation"):
        plot_ablations(summary[summary["method"].isin(["havir", "pixel_ridge"])], png, pdf)
    with pytest.raises(ValueError, match=r"missing \['havir_no_image'\]"):
        plot_ablations(summary, png, pdf, ablations=["havir_no_image"])


def test_weight_maps(rng, tmp_path):
    shape = (18, 22, 18)
    x, y, z = np.indices(shape)
    background = np.exp(-((x - 9) ** 2 + (y - 11) ** 2 + (z - 9) ** 2) / 60.0)
    ijk = {"structural": np.argwhere((background > 0.3) & (y < 8)), "semantic": np.argwhere((background > 0.3) & (y >= 8))}
    volumes = {stream: weight_volume(v, rng.random(len(v)), shape) for stream, v in ijk.items()}
    assert np.isfinite(volumes["structural"]).sum() == len(ijk["structural"])
    png, pdf = tmp_path / "weights.png", tmp_path / "weights.pdf"
    fig = plot_weight_maps(volumes, background, png, pdf, subject="subj01", title_note="synthetic subjects")
    check_outputs(png, pdf, min_width=1200, min_height=400)
    assert fig.get_suptitle().endswith("synthetic subjects")
    texts = figure_texts(fig)
    # one row per stream (labelled with its voxel count, own colour bar), 6 axial slices each, at z of the voxels
    assert f"structural\n({len(ijk['structural'])} voxels)" in texts and texts.count("‖w‖ per voxel") == 2
    slices = [text for text in texts if text.startswith("z=")]
    assert len(slices) == 12 and slices[:6] == slices[6:] == [f"z={z}" for z in (1, 4, 7, 11, 14, 17)]
    with pytest.raises(ValueError, match="does not match the background"):
        plot_weight_maps({"semantic": volumes["semantic"][:-1]}, background, png, pdf, subject="subj01")
    with pytest.raises(ValueError, match="outside the volume"):
        weight_volume(np.array([[18, 0, 0]]), np.ones(1), shape)


def test_pathways(rng, tmp_path):
    rows = []
    for subject in ["subj01", "subj02", "subj07"]:
        for stream, groups in [("structural", ["V1", "V2", "other"]), ("semantic", ["faces", "places", "ventral"])]:
            rows += [(subject, stream, group, rng.random()) for group in groups for _ in range(4)]
    shares = roi_weight_shares(pd.DataFrame(rows, columns=["subject", "stream", "roi_group", "weight"]))
    overlap = pd.DataFrame(
        {"subject": ["subj01", "subj02", "subj07"], "structural_only": [200, 180, 150],
         "semantic_only": [300, 320, 280], "both": [20, 0, 45], "dice": [0.07, 0.0, 0.17]}
    )
    png, pdf = tmp_path / "pathways.png", tmp_path / "pathways.pdf"
    plot_pathways(shares, overlap, png, pdf, overlap_rule="structural", title_note="synthetic subjects")
    check_outputs(png, pdf, min_width=1200, min_height=700)
    with pytest.raises(ValueError, match=r"lacks subjects \['subj07'\]"):
        plot_pathways(shares, overlap.iloc[:2], png, pdf)


def test_subject_masks(tmp_path):
    x, y, z = np.indices((18, 22, 18))
    background = np.exp(-((x - 9) ** 2 + (y - 11) ** 2 + (z - 9) ** 2) / 60.0)
    masks = {"structural": (background > 0.3) & (y < 8), "semantic": (background > 0.3) & (y >= 7)}
    png, pdf = tmp_path / "masks.png", tmp_path / "masks.pdf"
    fig = plot_subject_masks(masks, background, png, pdf, subject="subj01", title_note="synthetic data")
    check_outputs(png, pdf, min_width=1200, min_height=600)
    assert fig.get_suptitle() == "subj01: voxel sets per stream\nsynthetic data"
    texts = figure_texts(fig)
    assert "axial" in texts and "coronal" in texts
    assert sum(t.startswith("z=") for t in texts) == 6 and sum(t.startswith("y=") for t in texts) == 6
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == [
        f"structural ({masks['structural'].sum():,} voxels)",
        f"semantic ({masks['semantic'].sum():,} voxels)",
        f"in several streams ({(masks['structural'] & masks['semantic']).sum():,} voxels)",
    ]
    with pytest.raises(ValueError, match=r"semantic mask: expected a bool array of shape \(18, 22, 18\)"):
        plot_subject_masks({"semantic": masks["semantic"][:-1]}, background, png, pdf, subject="subj01")


def test_slices_in_scanner_mm_of_the_background_affine(tmp_path):
    """A NIfTI background (as the rules pass it) places the slices at its voxels' scanner coordinates."""
    shape = (10, 12, 9)
    affine = np.array([[-1.8, 0, 0, 9.0], [0, 1.8, 0, -20.0], [0, 0, 1.8, -7.2], [0, 0, 0, 1]])  # x flipped, like NSD
    mask = np.zeros(shape, bool)
    mask[2:8, 3:9, 2:7] = True
    assert cut_coords(mask, affine, "z", 3) == pytest.approx([-3.6, 0.0, 3.6])
    assert cut_coords(mask, affine, "x", 20) == pytest.approx([-3.6, -1.8, 0, 1.8, 3.6, 5.4])  # one per voxel
    assert cut_coords(np.zeros(shape, bool), affine, "y", 2) == pytest.approx([-20.0, -0.2])  # no voxel: whole volume
    background = nib.Nifti1Image(np.random.default_rng(0).random(shape).astype(np.float32), affine)
    png, pdf = tmp_path / "masks.png", tmp_path / "masks.pdf"
    fig = plot_subject_masks({"structural": mask}, background, png, pdf, subject="subj01", n_slices=3)
    slices = [text for text in figure_texts(fig) if text[:2] in ("z=", "y=")]
    assert [text[:2] for text in slices] == ["z="] * 3 + ["y="] * 3
    # nilearn labels each slice with its position in whole mm
    assert [float(text[2:]) for text in slices] == pytest.approx([-3.6, 0, 3.6, -14.6, -11.0, -5.6], abs=1)
    volume = weight_volume(np.argwhere(mask), np.ones(mask.sum()), shape)
    fig = plot_weight_maps({"semantic": volume}, background, png, pdf, subject="subj01", n_slices=3)
    slices = [float(text[2:]) for text in figure_texts(fig) if text.startswith("z=")]
    assert slices == pytest.approx([-3.6, 0, 3.6], abs=1)


def test_wrap_label_breaks_after_underscores():
    assert wrap_label("havir_no_structure", width=10) == "havir_no_\nstructure"
    assert wrap_label("havir") == "havir"


def test_tables_and_figures_import_without_torch():
    """Table and figure rules run in the data env (envs/data.yaml), which has no torch or torchvision."""
    code = """
import sys

class NoDeepLearning:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "torchvision", "transformers", "diffusers"}:
            raise ModuleNotFoundError(f"blocked: {name}")

sys.meta_path.insert(0, NoDeepLearning())
import nsdrecon.plotting, nsdrecon.tables, nsdrecon.pipeline.figures
from nsdrecon.metrics import METRICS
print(len(METRICS))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"
