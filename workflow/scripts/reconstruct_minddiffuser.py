"""Rule reconstruct_minddiffuser: Stable Diffusion img2img from decoded inputs, refined by CLIP-feature backpropagation."""

from nsdrecon.pipeline.reconstruction import run_minddiffuser
from nsdrecon.runlog import configure_logging, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (common.smk: execution)
p = snakemake.params
run_minddiffuser(
    predictions=snakemake.input.predictions,
    model=p.model,
    clip=p.clip,
    device=run.device,
    batch_size=run.batch_size,
    dtype=p.dtype,
    settings=p.settings,
    out_path=snakemake.output.images,
)
