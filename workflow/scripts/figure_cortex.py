"""Rule figure_cortex: a subject's decoder weight maps on fsaverage, inflated views and flatmap, ROI outlines."""

from nsdrecon.cortex import HEMISPHERES
from nsdrecon.pipeline.cortex import run_figure_cortex
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
rois = [key.removeprefix("ctab_") for key in inp.keys() if key.startswith("ctab_")]
run_figure_cortex(
    subject=snakemake.wildcards.subject,
    maps={h: inp[h] for h in HEMISPHERES},
    labels={h: {roi: inp[f"label_{h}_{roi}"] for roi in rois} for h in HEMISPHERES},
    ctabs={roi: inp[f"ctab_{roi}"] for roi in rois},
    roi_groups={g["group"]: g["labels"] for g in p.roi_groups},
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
    title_note=p.title_note,
)
