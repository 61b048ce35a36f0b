"""Rule voxel_weights: each decoder input voxel's weight and ROI group, the shares per group, the overlap."""

from nsdrecon.pipeline.interpretability import run_voxel_weights
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp = snakemake.input
p = snakemake.params
names = [key.removeprefix("roi_") for key in inp.keys() if key.startswith("roi_")]
run_voxel_weights(
    subject=snakemake.wildcards.subject,
    decoders=dict(zip(p.streams, inp.decoders)),
    betas=inp.betas,
    rois={name: (inp[f"roi_{name}"], inp[f"ctab_{name}"]) for name in names},
    roi_groups={g["group"]: g["labels"] for g in p.roi_groups},
    label_sets=p.label_sets,
    intersect=p.intersect,
    out_weights=snakemake.output.weights,
    out_shares=snakemake.output.shares,
    out_overlap=snakemake.output.overlap,
)
