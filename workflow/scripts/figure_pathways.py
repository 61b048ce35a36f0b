"""Rule figure_pathways: per-ROI shares of each stream's decoder weights and the streams' overlap, per subject."""

import pandas as pd

from nsdrecon.atomic import write_text
from nsdrecon.plotting import plot_pathways
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
shares = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.shares], ignore_index=True)
overlap = pd.concat([pd.read_csv(path, sep="\t") for path in snakemake.input.overlap], ignore_index=True)
write_text(snakemake.output.shares, shares.to_csv(sep="\t", index=False))
write_text(snakemake.output.overlap, overlap.to_csv(sep="\t", index=False))
plot_pathways(
    shares, overlap, snakemake.output.png, snakemake.output.pdf,
    overlap_rule=p.overlap_rule, title_note=p.title_note,
)
