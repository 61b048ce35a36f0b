"""Rule evaluate: the eight reconstruction metrics for every test image of one subject and method."""

from nsdrecon.pipeline.evaluation import run_evaluate
from nsdrecon.runlog import configure_logging, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_evaluate(
    reconstructions=snakemake.input.reconstructions,
    stimuli=snakemake.input.stimuli,
    subject=snakemake.wildcards.subject,
    method=snakemake.wildcards.method,
    settings=snakemake.params.evaluate,
    device=snakemake.params.device,
    out_path=snakemake.output[0],
)
