"""Rule figure_pathways: per-ROI shares of each stream's decoder weights and the streams' overlap, per subject."""

from nsdrecon.pipeline.figures import run_figure_pathways
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_figure_pathways(
    shares=list(snakemake.input.shares),
    overlap=list(snakemake.input.overlap),
    overlap_rule=snakemake.params.overlap_rule,
    title_note=snakemake.params.title_note,
    outputs=dict(snakemake.output.items()),
)
