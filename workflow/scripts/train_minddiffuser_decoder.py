"""Rule train_minddiffuser_decoder: voxel-selected L2 decoders of MindDiffuser's targets."""

from nsdrecon.pipeline.minddiffuser import run_train_minddiffuser
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import MindDiffuserDecoding, RidgeFit

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device and target_block: execution settings (see DEVICE in common.smk)
run_train_minddiffuser(
    betas=snakemake.input.betas,
    features=snakemake.input.features,
    decoding=MindDiffuserDecoding.model_validate(snakemake.params.decoding),
    ridge=RidgeFit.model_validate(snakemake.params.ridge),
    device=run.device,
    target_block=run.target_block,
    outputs=dict(snakemake.output.items()),
)
