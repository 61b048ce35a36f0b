"""Rule voxel_weights: each decoder input voxel's weight and ROI group, the shares per group, the overlap."""

from nsdrecon.pipeline.interpretability import run_voxel_weights
from nsdrecon.runlog import configure_logging
from nsdrecon.settings import Masks, RoiGroup

configure_logging(snakemake.log[0])
inp = snakemake.input
p = snakemake.params
names = [key.removeprefix("roi_") for key in inp.keys() if key.startswith("roi_")]
run_voxel_weights(
    subject=snakemake.wildcards.subject,
    decoders=dict(zip(p.streams, inp.decoders)),
    betas=inp.betas,
    rois={name: (inp[f"roi_{name}"], inp[f"ctab_{name}"]) for name in names},
    roi_groups=[RoiGroup.model_validate(group) for group in p.roi_groups],
    masks=Masks.model_validate(p.masks),
    out_weights=snakemake.output.weights,
    out_shares=snakemake.output.shares,
    out_overlap=snakemake.output.overlap,
)
