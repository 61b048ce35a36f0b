"""Rule subset_stimuli: the images a subject saw in the configured sessions, copied out of imgBrick.

From the local full file when there is one, else by HTTP range requests on the bucket's.
"""

from pathlib import Path

from nsdrecon import layout
from nsdrecon.download import RetryPolicy
from nsdrecon.nsd import read_expdesign
from nsdrecon.nsd.stimulus_subset import subject_images, write_stimulus_subset
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
cfg, p = snakemake.config, snakemake.params
ids = subject_images(read_expdesign(snakemake.input.expdesign), snakemake.wildcards.subject, p.sessions, p.trials_per_session)
local = Path(cfg["nsd_root"]) / layout.stimuli()
source = snakemake.input.full or (local if local.exists() else f"{cfg['nsd_url'].rstrip('/')}/{layout.stimuli()}")
write_stimulus_subset(
    source, ids, snakemake.output[0],
    parallel=cfg["download"]["parallel"], policy=RetryPolicy(retries=cfg["download"]["retries"]),
)
