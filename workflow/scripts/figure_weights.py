"""Rule figure_weights: a subject's decoder weight magnitude per voxel, per stream, on volume slices."""

import nibabel as nib
import pandas as pd

from nsdrecon.plotting import plot_weight_maps, weight_volume
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
background = nib.load(snakemake.input.background)  # its affine places the slices in scanner mm
weights = pd.read_csv(snakemake.input.weights, sep="\t")
volumes = {
    stream: weight_volume(rows[["i", "j", "k"]].to_numpy(), rows["weight"].to_numpy(), background.shape)
    for stream, rows in weights.groupby("stream", sort=False)
}
plot_weight_maps(
    volumes, background, snakemake.output.png, snakemake.output.pdf,
    subject=snakemake.wildcards.subject, title_note=snakemake.params.title_note,
)
