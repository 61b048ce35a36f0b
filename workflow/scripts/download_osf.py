"""Rule download_osf: one file of THINGS-EEG2's image set, found by name on OSF and checked against its SHA-256.

The API address and connection settings are resources, not params: they never change the bytes.
"""

from nsdrecon.pipeline.meeg import run_download_osf
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
net = snakemake.resources
run_download_osf(
    api=net.api,
    project=snakemake.params.project,
    name=snakemake.params.name,
    parallel=net.parallel,
    retries=net.retries,
    out_path=snakemake.output[0],
)
