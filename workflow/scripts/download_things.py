"""Rule download_things: one THINGS-MEG file from OpenNeuro's bucket, verified and resumable.

The URL and connection settings are resources, not params: they never change the bytes.
"""

from nsdrecon.pipeline.meeg import run_download_things
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
net = snakemake.resources
run_download_things(url=net.url, parallel=net.parallel, retries=net.retries, out_path=snakemake.output[0])
