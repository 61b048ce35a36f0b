"""Rules reference_features and evaluate: the metric networks' features of the test stimuli, then the eight
reconstruction metrics for every test image of one subject and method."""

from nsdrecon.pipeline.evaluation import run_evaluate, run_reference_features
from nsdrecon.runlog import configure_logging, execution_device, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
if snakemake.rule == "reference_features":
    run_reference_features(
        betas=snakemake.input.betas,
        stimuli=snakemake.input.stimuli,
        settings=snakemake.params.evaluate,
        device=execution_device(snakemake.config),
        out_path=snakemake.output[0],
    )
else:
    run_evaluate(
        reconstructions=snakemake.input.reconstructions,
        stimuli=snakemake.input.stimuli,
        reference=snakemake.input.reference,
        subject=snakemake.wildcards.subject,
        method=snakemake.wildcards.method,
        settings=snakemake.params.evaluate,
        device=execution_device(snakemake.config),
        out_path=snakemake.output[0],
    )
