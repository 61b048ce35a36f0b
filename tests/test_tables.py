"""Tests of nsdrecon.tables: per-subject means, mean-of-subjects rows, TSV/Markdown/LaTeX output."""

import numpy as np
import pandas as pd
import pytest

from nsdrecon.metrics import METRICS, WEIGHTS_PRETRAINED, WEIGHTS_RANDOM_MISSING, weights_column
from nsdrecon.published import read_published_results
from nsdrecon.tables import summarize, write_tables

REFERENCE_RESULTS = read_published_results()


@pytest.fixture
def per_image():
    """Two methods x two subjects with 2 and 4 images (so the mean of subject means differs from the pooled mean)."""
    rng = np.random.default_rng(0)
    rows = []
    for method in ["pixel_ridge", "havir"]:
        for subject, n in [("subj02", 4), ("subj01", 2)]:
            for image in range(n):
                row = {"subject": subject, "method": method, "image": image}
                row.update({metric: rng.random() for metric in METRICS})
                row[weights_column("AlexNet")] = WEIGHTS_RANDOM_MISSING
                row[weights_column("CLIP")] = WEIGHTS_PRETRAINED
                rows.append(row)
    return pd.DataFrame(rows)


def test_reference_results_hold_the_published_numbers():
    main = REFERENCE_RESULTS[~REFERENCE_RESULTS["ablation"]]
    assert len(main) == 5 and len(REFERENCE_RESULTS) == 7
    bd_mean = main[(main["method"] == "Brain-Diffuser") & (main["scope"] == "mean of 4 subjects")].iloc[0]
    assert bd_mean[METRICS].tolist() == [0.254, 0.356, 0.942, 0.962, 0.872, 0.915, 0.775, 0.423]
    mindeye1 = main[main["method"] == "MindEye1"].iloc[0]
    assert mindeye1["SwAV"] == 0.358 and mindeye1["n_images"] == 982


def test_summarize_means_per_subject_and_mean_of_subjects(per_image):
    summary = summarize(per_image)
    assert summary[["method", "subject"]].values.tolist() == [
        ["pixel_ridge", "subj01"],
        ["pixel_ridge", "subj02"],
        ["pixel_ridge", "mean"],
        ["havir", "subj01"],
        ["havir", "subj02"],
        ["havir", "mean"],
    ]
    rows = per_image[per_image["method"] == "havir"]
    s1 = rows[rows["subject"] == "subj01"]["SSIM"].mean()
    s2 = rows[rows["subject"] == "subj02"]["SSIM"].mean()
    havir = summary[summary["method"] == "havir"].set_index("subject")
    assert havir.loc["subj01", "SSIM"] == pytest.approx(s1)
    assert havir.loc["mean", "SSIM"] == pytest.approx((s1 + s2) / 2)
    assert havir.loc["mean", "SSIM"] != pytest.approx(rows["SSIM"].mean())  # not the pooled mean
    assert havir["n_images"].tolist() == [2, 4, 3]
    assert (summary[weights_column("AlexNet")] == WEIGHTS_RANDOM_MISSING).all()


def test_summarize_skips_nan_and_rejects_missing_columns(per_image):
    per_image.loc[0, "PixCorr"] = np.nan  # a constant reconstruction
    summary = summarize(per_image)
    first = per_image[(per_image["method"] == "pixel_ridge") & (per_image["subject"] == "subj02")]
    assert summary.loc[1, "PixCorr"] == pytest.approx(first["PixCorr"].iloc[1:].mean())
    with pytest.raises(ValueError, match=r"lacks columns \['SwAV'\]"):
        summarize(per_image.drop(columns="SwAV"))


def test_write_tables_round_trip(per_image, tmp_path):
    summary = summarize(per_image)
    out = {kind: tmp_path / "tables" / f"metrics.{kind}" for kind in ("tsv", "md", "tex")}
    write_tables(summary, out["tsv"], out["md"], out["tex"], references=REFERENCE_RESULTS)

    back = pd.read_csv(out["tsv"], sep="\t")
    ours = back[back["source"] == "this run"].drop(columns=["source", "ssim_variant"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, summary, check_dtype=False)
    assert (back.loc[back["source"] == "this run", "ssim_variant"] == "standard").all()
    published = back[back["source"] == "published"]
    assert len(published) == 5
    np.testing.assert_allclose(
        published[METRICS].to_numpy(), REFERENCE_RESULTS[~REFERENCE_RESULTS["ablation"]][METRICS].to_numpy()
    )

    markdown = out["md"].read_text()
    assert "| source | method | subject | N | PixCorr ↑ |" in markdown
    # Brain-Diffuser's SSIM is the per-column variant: marked, not put beside this run's 2-D SSIM as an equal
    assert "| 0.254 | (0.356)† |" in markdown and "| 0.439 |" in markdown  # MindEye2's 2-D SSIM unmarked
    assert "SSIM of this run: 2-D SSIM (evaluate.ssim: standard)." in markdown
    assert "(†) published SSIM measured as per-column SSIM" in markdown and "evaluate.ssim: legacy computes it" in markdown
    assert "EffNet-B ↓" in markdown and "| 94.2% | 96.2% | 87.2% | 91.5% | 0.775 | 0.423 |" in markdown
    assert "with RANDOM weights (AlexNet: random (no weights found))" in markdown
    havir_mean = summary[(summary["method"] == "havir") & (summary["subject"] == "mean")].iloc[0]
    assert f"| {100 * havir_mean['CLIP']:.1f}% |" in markdown

    latex = out["tex"].read_text()
    assert "\\toprule" in latex and "SwAV $\\downarrow$" in latex and "pixel\\_ridge" in latex
    assert "94.2\\%" in latex and "chance 50\\%" in latex

    write_tables(summary, out["tsv"], out["md"], out["tex"], references=REFERENCE_RESULTS, ssim_variant="legacy")
    legacy = out["md"].read_text()
    assert "| 0.254 | 0.356 |" in legacy and "| (0.439)§ |" in legacy and "(§) published SSIM measured as 2-D SSIM" in legacy

    tiny = summary.assign(**{"weights:CLIP": "tiny, trained on generated scenes"})
    tiny.loc[0, "method"] = "havir_oracle"
    write_tables(tiny, out["tsv"], out["md"], out["tex"], references=REFERENCE_RESULTS, extra_notes=["Diffusion models: tiny."])
    notes = out["md"].read_text()
    assert "tiny models trained on the generated scenes (CLIP: tiny, trained on generated scenes)" in notes
    assert "*_oracle: the same generator from each test image's true features" in notes
    assert "- Diffusion models: tiny." in notes

    write_tables(summary, out["tsv"], out["md"], out["tex"])
    assert set(pd.read_csv(out["tsv"], sep="\t")["source"]) == {"this run"}
    assert "published" not in out["md"].read_text().split("\n\n")[0]
