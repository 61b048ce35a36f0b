"""Rule generate_synthetic_meeg: a generated THINGS-EEG2 or THINGS-MEG world in the real formats, with its truth."""

from nsdrecon.pipeline.meeg import run_generate_meeg_world
from nsdrecon.runlog import configure_logging
from nsdrecon.settings import SyntheticMeeg

configure_logging(snakemake.log[0])
p = snakemake.params
run_generate_meeg_world(
    modality=p.modality,
    root=p.root,
    subjects=p.subjects,
    synthetic=SyntheticMeeg.model_validate(p.synthetic),
)
