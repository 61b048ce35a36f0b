"""Rule reconstruct_havir: dual-guided Versatile Diffusion from decoded latents and CLIP tokens."""

from nsdrecon.pipeline.reconstruction import run_havir
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import HavirSampler, ModelSource

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (see DEVICE in common.smk)
p = snakemake.params
run_havir(
    structural=snakemake.input.structural,
    semantic=snakemake.input.semantic,
    model=ModelSource.model_validate(p.model),
    sampler=HavirSampler.model_validate(p.sampler),
    method=snakemake.wildcards.havir_method,
    device=run.device,
    batch_size=run.batch_size,
    dtype=p.dtype,
    out_path=snakemake.output.images,
)
