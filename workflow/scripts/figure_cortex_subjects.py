"""Rule figure_cortex_subjects: decoder weight maps on fsaverage, mean across subjects and deviations (figure, files)."""

from nsdrecon.cortex import HEMISPHERES
from nsdrecon.pipeline.cortex import run_figure_cortex_subjects
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp, out, p = snakemake.input, snakemake.output, snakemake.params
rois = [key.removeprefix("ctab_") for key in inp.keys() if key.startswith("ctab_")]
run_figure_cortex_subjects(
    maps={s: {h: inp[h][i] for h in HEMISPHERES} for i, s in enumerate(p.subjects)},
    labels={h: {roi: inp[f"label_{h}_{roi}"] for roi in rois} for h in HEMISPHERES},
    ctabs={roi: inp[f"ctab_{roi}"] for roi in rois},
    roi_groups={g["group"]: g["labels"] for g in p.roi_groups},
    out_png=out.png,
    out_pdf=out.pdf,
    out_mgh={h: out[f"{h}_mgh"] for h in HEMISPHERES},
    out_gifti={h: out[f"{h}_gifti"] for h in HEMISPHERES},
    out_maps=out.maps,
    title_note=p.title_note,
)
