"""Rule reconstruct_minddiffuser: Stable Diffusion img2img from decoded inputs, refined by CLIP-feature backpropagation."""

from nsdrecon.pipeline.reconstruction import run_minddiffuser
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import MindDiffuserSampler, ModelSource

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (see DEVICE in common.smk)
p = snakemake.params
run_minddiffuser(
    predictions=snakemake.input.predictions,
    model=ModelSource.model_validate(p.model),
    clip=ModelSource.model_validate(p.clip),
    sampler=MindDiffuserSampler.model_validate(p.sampler),
    refine=p.refine,
    device=run.device,
    batch_size=run.batch_size,
    dtype=p.dtype,
    out_path=snakemake.output.images,
)
