"""Rule train_decoder: ridge per target, then the ridge-initialised stream decoder, fine-tuned."""

from nsdrecon.pipeline.decoding import run_train_decoder
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import DecoderTraining, RidgeFit

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, target_block: execution settings (see DEVICE in common.smk)
p = snakemake.params
run_train_decoder(
    betas=snakemake.input.betas,
    features=snakemake.input.features,
    stream=snakemake.wildcards.stream,
    targets=p.targets,
    ridge=RidgeFit.model_validate(p.ridge),
    training=DecoderTraining.model_validate(p.training),
    device=run.device,
    target_block=run.target_block,
    outputs=dict(snakemake.output.items()),
)
