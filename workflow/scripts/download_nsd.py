"""Rule download_nsd: fetch one key of the public NSD bucket, verified and resumable."""

from nsdrecon.download import download_file
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
download_file(snakemake.params.url, snakemake.output[0])
