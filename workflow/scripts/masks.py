"""Rule masks: individualised structural and semantic masks from the subject's own ROI files."""

from nsdrecon.atomic import write_text
from nsdrecon.masks import save_mask, stream_masks, voxel_count_table
from nsdrecon.nsd import read_roi
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
inp = snakemake.input
names = sorted(k[len("roi_") :] for k in inp.keys() if k.startswith("roi_"))  # fixed order: same table bytes on every run
rois = {n: read_roi(inp[f"roi_{n}"], inp[f"ctab_{n}"]) for n in names}
masks = stream_masks(rois, p.label_sets, rois[p.intersect], overlap=p.overlap)
for stream, mask in masks.items():
    save_mask(mask, rois[p.intersect].affine, snakemake.output[stream])
table = voxel_count_table(masks, rois, snakemake.wildcards.subject)
write_text(snakemake.output.counts, table.to_csv(sep="\t", index=False))
