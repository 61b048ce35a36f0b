"""Rule figure_masks: a subject's structural and semantic masks over its mean volume."""

import nibabel as nib

from nsdrecon.masks import load_mask
from nsdrecon.plotting import plot_subject_masks
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp = snakemake.input
masks = {s: load_mask(inp[s])[0] for s in ("structural", "semantic")}
background = nib.load(inp.background)  # its affine places the slices in scanner mm
note = "synthetic subject" if snakemake.params.source == "synthetic" else ""
plot_subject_masks(
    masks, background, snakemake.output.png, snakemake.output.pdf,
    subject=snakemake.wildcards.subject, title_note=note,
)
