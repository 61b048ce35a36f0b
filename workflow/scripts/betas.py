"""Rule betas: z-scored train/test betas per voxel stream (test repeats averaged)."""

from nsdrecon.betas import extract_stream_betas, save_betas
from nsdrecon.masks import load_mask
from nsdrecon.nsd import read_expdesign
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp = snakemake.input
masks = {s: load_mask(inp[s])[0] for s in ("structural", "semantic")}
ds = extract_stream_betas(
    list(inp.sessions),
    read_expdesign(inp.expdesign),
    snakemake.wildcards.subject,
    masks,
    zscore=snakemake.params.zscore,
    train_trials=snakemake.params.train_trials,
    trials_per_session=snakemake.params.trials_per_session,
)
save_betas(ds, snakemake.output[0])
