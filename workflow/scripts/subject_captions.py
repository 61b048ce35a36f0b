"""Rule subject_captions: the COCO captions of the images a subject saw, cached as a TSV."""

from nsdrecon.pipeline.preprocessing import run_subject_captions
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp, p = snakemake.input, snakemake.params
run_subject_captions(
    subject=snakemake.wildcards.subject,
    captions=list(inp.captions),
    stim_info=inp.stim_info,
    expdesign=inp.expdesign,
    sessions=p.sessions,
    trials_per_session=p.trials_per_session,
    out_path=snakemake.output[0],
)
