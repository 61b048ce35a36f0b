"""Rule reconstruct_pixel_ridge: the weight-free baseline (ridge onto a PCA basis of the stimuli)."""

from nsdrecon.pipeline.pixel_ridge import run_pixel_ridge
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import PixelRidge, RidgeFit

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
run_pixel_ridge(
    betas=snakemake.input.betas,
    stimuli=snakemake.input.stimuli,
    pixel_ridge=PixelRidge.model_validate(p.pixel_ridge),
    ridge=RidgeFit.model_validate(p.ridge),
    out_images=snakemake.output.images,
    out_model=snakemake.output.model,
)
