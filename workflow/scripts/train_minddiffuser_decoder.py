"""Rule train_minddiffuser_decoder: voxel-selected L2 decoders of MindDiffuser's targets."""

from nsdrecon.pipeline.minddiffuser import run_train_minddiffuser
from nsdrecon.runlog import configure_logging, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device and target_block: execution settings (common.smk: execution)
run_train_minddiffuser(
    betas=snakemake.input.betas,
    features=snakemake.input.features,
    settings=snakemake.params.settings,
    ridge=snakemake.params.ridge,
    device=run.device,
    target_block=run.target_block,
    outputs=dict(snakemake.output.items()),
)
