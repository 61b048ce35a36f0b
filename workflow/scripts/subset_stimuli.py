"""Rule subset_stimuli: the images a subject saw in the configured sessions, copied out of imgBrick.

From the local full file when the rule declares one, else by HTTP range requests on the bucket's
(a localrule then: compute nodes need no network).
"""

from nsdrecon import layout
from nsdrecon.pipeline.preprocessing import run_subset_stimuli
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p, net = snakemake.params, snakemake.resources  # the bucket and connections: execution settings
run_subset_stimuli(
    subject=snakemake.wildcards.subject,
    expdesign=snakemake.input.expdesign,
    source=snakemake.input.full or f"{net.url.rstrip('/')}/{layout.stimuli()}",
    sessions=p.sessions,
    trials_per_session=p.trials_per_session,
    parallel=net.parallel,
    retries=net.retries,
    out_path=snakemake.output[0],
)
