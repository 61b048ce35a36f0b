"""Rule train_minddiffuser_decoder: voxel-selected L2 decoders of MindDiffuser's targets."""

from nsdrecon.pipeline.minddiffuser import run_train_minddiffuser
from nsdrecon.runlog import configure_logging, execution, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_train_minddiffuser(
    betas=snakemake.input.betas,
    features=snakemake.input.features,
    settings=snakemake.params.settings,
    ridge=snakemake.params.ridge,
    target_block=execution(snakemake.config).ridge_target_block,
    outputs=dict(snakemake.output.items()),
)
