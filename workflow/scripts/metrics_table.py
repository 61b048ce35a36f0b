"""Rule metrics_table: per-subject and 4-subject-mean metrics beside the published references."""

from nsdrecon.pipeline.figures import run_metrics_table
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
run_metrics_table(
    metrics=list(snakemake.input.metrics),
    published=snakemake.input.published,
    notes=snakemake.params.notes,
    dataset=snakemake.params.dataset,
    ssim_variant=snakemake.params.ssim,
    outputs=dict(snakemake.output.items()),
)
