"""Rules havir_oracle_inputs and minddiffuser_oracle_inputs: the test images' true features."""

from nsdrecon.pipeline.oracle import run_havir_oracle_inputs, run_minddiffuser_oracle_inputs
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
if snakemake.rule == "havir_oracle_inputs":
    run_havir_oracle_inputs(
        betas=snakemake.input.betas,
        features=snakemake.input.features,
        out_path=snakemake.output[0],
    )
else:
    run_minddiffuser_oracle_inputs(
        betas=snakemake.input.betas,
        features=snakemake.input.features,
        predictions=snakemake.input.predictions,
        out_path=snakemake.output[0],
    )
