"""Rule verify: recompute size and SHA-256 of every downloaded NSD file and compare with its download record."""

import logging

from nsdrecon.download_records import check_downloads
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
table = check_downloads(snakemake.params.records, snakemake.params.root)
logging.info("%d downloaded files match their records:\n%s", len(table), table.to_string(index=False))
