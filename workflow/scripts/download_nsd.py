"""Rule download_nsd: fetch one key of the public NSD bucket, verified and resumable.

The URL and connection settings come from the config, not params: they never
change the bytes, and a params change would make Snakemake refetch every key.
"""

from nsdrecon.download import append_manifest, download_file
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
cfg, key = snakemake.config, snakemake.params.key
result = download_file(
    f"{cfg['nsd_url'].rstrip('/')}/{key}",
    snakemake.output[0],
    parallel=cfg["download"]["parallel"],
    retries=cfg["download"]["retries"],
)
append_manifest(snakemake.params.manifest, key, result)
