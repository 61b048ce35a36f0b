"""Rule reconstruct_havir: dual-guided Versatile Diffusion from decoded latents and CLIP tokens."""

from nsdrecon.pipeline.reconstruction import run_havir
from nsdrecon.runlog import configure_logging, set_threads

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (common.smk: execution)
p = snakemake.params
run_havir(
    structural=snakemake.input.structural,
    semantic=snakemake.input.semantic,
    model=p.model,
    device=run.device,
    batch_size=run.batch_size,
    dtype=p.dtype,
    settings=p.settings,
    out_path=snakemake.output.images,
)
