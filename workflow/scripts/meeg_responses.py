"""Rule meeg_responses: a subject's EEG/MEG stream matrices (betas.nc), sensor responses, stimuli and captions."""

from nsdrecon.pipeline.meeg import run_meeg_responses
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import Meeg

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
run_meeg_responses(
    modality=p.modality,
    root=p.root,
    subject=snakemake.wildcards.subject,
    meeg=Meeg.model_validate(p.meeg),
    outputs=dict(snakemake.output.items()),
)
