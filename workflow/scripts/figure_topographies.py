"""Rule figure_topographies (and _subjects): decoder activation patterns per target and window on the sensors."""

from nsdrecon.pipeline.meeg import run_figure_topographies
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_figure_topographies(
    patterns=list(snakemake.input.patterns),
    title_note=snakemake.params.title_note,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
