"""Rule masks: the subject's structural and semantic voxel masks from its own ROI files."""

from nsdrecon.pipeline.preprocessing import run_masks
from nsdrecon.runlog import configure_logging
from nsdrecon.settings import Masks

configure_logging(snakemake.log[0])
inp = snakemake.input
names = [key.removeprefix("roi_") for key in inp.keys() if key.startswith("roi_")]
run_masks(
    subject=snakemake.wildcards.subject,
    rois={name: (inp[f"roi_{name}"], inp[f"ctab_{name}"]) for name in names},
    masks=Masks.model_validate(snakemake.params.masks),
    outputs=dict(snakemake.output.items()),
)
