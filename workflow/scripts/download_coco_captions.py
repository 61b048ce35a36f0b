"""Rule download_coco_captions: COCO-2017 caption annotations that NSD's images are cropped from."""

from pathlib import Path

from nsdrecon.download import download_file, extract_members
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
outputs = [Path(p) for p in snakemake.output]
archive = outputs[0].parent / "annotations_trainval2017.zip"
download_file(snakemake.params.url, archive)
extract_members(archive, {f"annotations/{p.name}": p for p in outputs})
