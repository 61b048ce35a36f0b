"""Rule figure_temporal: decoding accuracy over time per target, every subject and their mean."""

from nsdrecon.pipeline.meeg import run_figure_temporal
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_figure_temporal(
    scores=list(snakemake.input.scores),
    title_note=snakemake.params.title_note,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
