"""Rule verify: recompute size and SHA-256 of every downloaded NSD file and compare with its download record."""

import logging

from nsdrecon.download_records import verify_records
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
table = verify_records(snakemake.params.records, snakemake.params.root)
bad = table[table.status != "ok"]
logging.info("verified %d downloaded files against their records:\n%s", len(table), table.to_string(index=False))
if table.empty:
    raise SystemExit(f"no download records under {snakemake.params.records}: nothing was downloaded in this folder")
if len(bad):
    lines = "\n".join(f"  {snakemake.params.root}/{row.key}: {row.status}" for row in bad.itertuples())
    raise SystemExit(f"{len(bad)} of {len(table)} downloaded files no longer match their records:\n{lines}\n"
                     "Delete them (chmod u+w first: downloads are write-protected) and rerun to fetch them again.")
