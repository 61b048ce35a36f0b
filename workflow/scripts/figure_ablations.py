"""Rule figure_ablations: HAVIR against its configured ablations, per metric."""

from nsdrecon.pipeline.figures import run_figure_ablations
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_figure_ablations(
    table=snakemake.input[0],
    ablations=snakemake.params.ablations,
    title_note=snakemake.params.title_note,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
