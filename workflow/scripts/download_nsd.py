"""Rule download_nsd: fetch one key of the public NSD bucket, verified and resumable, and record what arrived.

The URL and connection settings are resources, not params: they never change
the bytes, and a params change would make Snakemake refetch every key.
"""

from nsdrecon.download import download_file
from nsdrecon.download_records import write_record
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log.text)
net, key = snakemake.resources, snakemake.params.key
url = f"{net.url.rstrip('/')}/{key}"
result = download_file(url, snakemake.output[0], parallel=net.parallel, retries=net.retries)
write_record(snakemake.log.record, key, url, result)
