"""Rule subject_captions: a small table of the COCO captions of the images a subject saw."""

from nsdrecon.nsd import read_expdesign, read_stim_info
from nsdrecon.nsd.stimuli import write_caption_table
from nsdrecon.nsd.stimulus_subset import subject_images
from nsdrecon.runlog import configure_logging

logger = configure_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
ids = subject_images(read_expdesign(inp.expdesign), snakemake.wildcards.subject, p.sessions, p.trials_per_session)
rows = write_caption_table(snakemake.output[0], list(inp.captions), read_stim_info(inp.stim_info), ids)
logger.info("%d captions of %d images -> %s", rows, len(ids), snakemake.output[0])
