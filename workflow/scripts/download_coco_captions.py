"""Rule download_coco_captions: the two COCO-2017 caption files that NSD's images are cropped from.

Only those members of COCO's 240 MB annotation zip are read (range requests);
the archive itself is kept nowhere.
"""

from pathlib import Path

from nsdrecon.download import RetryPolicy
from nsdrecon.remote import fetch_zip_members
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
members = {f"annotations/{Path(p).name}": p for p in snakemake.output}
fetch_zip_members(snakemake.params.url, members, RetryPolicy(retries=snakemake.resources.retries))
