"""Rule betas: z-scored train/test betas per voxel stream (test repeats averaged)."""

from nsdrecon.pipeline.preprocessing import run_betas
from nsdrecon.runlog import configure_logging
from nsdrecon.settings import Betas

configure_logging(snakemake.log[0])
inp = snakemake.input
run_betas(
    subject=snakemake.wildcards.subject,
    sessions=list(inp.sessions),
    expdesign=inp.expdesign,
    masks={"structural": inp.structural, "semantic": inp.semantic},
    betas=Betas.model_validate(snakemake.params.betas),
    trials_per_session=snakemake.params.trials_per_session,
    out_path=snakemake.output[0],
)
