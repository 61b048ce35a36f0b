"""Rule subset_stimuli: the images a subject saw in the configured sessions, copied out of imgBrick.

From the local full file when the rule declares one, else by HTTP range requests on the bucket's
(a localrule then: compute nodes need no network).
"""

from nsdrecon import layout
from nsdrecon.download import RetryPolicy
from nsdrecon.nsd import read_expdesign
from nsdrecon.nsd.stimulus_subset import subject_images, write_stimulus_subset
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p, net = snakemake.params, snakemake.resources  # the bucket and connections: execution settings
ids = subject_images(read_expdesign(snakemake.input.expdesign), snakemake.wildcards.subject, p.sessions, p.trials_per_session)
source = snakemake.input.full or f"{net.url.rstrip('/')}/{layout.stimuli()}"
write_stimulus_subset(source, ids, snakemake.output[0], parallel=net.parallel, policy=RetryPolicy(retries=net.retries))
