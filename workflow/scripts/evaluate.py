"""Rule evaluate: the eight reconstruction metrics for every test image of one subject, for each method."""

from nsdrecon.pipeline.evaluation import run_evaluate
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import Metrics

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (see DEVICE in common.smk)
methods = list(snakemake.output.keys())  # one metrics file per method
run_evaluate(
    reconstructions={method: snakemake.input[method] for method in methods},
    stimuli=snakemake.input.stimuli,
    subject=snakemake.wildcards.subject,
    metrics=Metrics.model_validate(snakemake.params.metrics),
    device=run.device,
    batch_size=run.batch_size,
    out_paths={method: snakemake.output[method] for method in methods},
)
