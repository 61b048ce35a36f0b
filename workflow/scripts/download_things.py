"""Rule download_things: one THINGS-EEG2 (OSF) or THINGS-MEG (OpenNeuro) file, verified and resumable.

The URL and connection settings are resources, not params: they never change the bytes.
"""

from nsdrecon.pipeline.meeg import run_download_things
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
net = snakemake.resources
run_download_things(
    key=snakemake.params.key,
    url=net.url,
    help_text=snakemake.params.help_text,
    parallel=net.parallel,
    retries=net.retries,
    out_path=snakemake.output[0],
)
