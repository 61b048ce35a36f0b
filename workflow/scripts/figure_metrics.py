"""Rule figure_metrics: metric bars per subject and method with the published references."""

from nsdrecon.pipeline.figures import run_figure_metrics
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_figure_metrics(
    table=snakemake.input[0],
    title_note=snakemake.params.title_note,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
