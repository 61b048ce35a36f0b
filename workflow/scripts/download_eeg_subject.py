"""Rule download_eeg_subject: a THINGS-EEG2 subject's preprocessed files, from its OSF archive.

The API address and connection settings are resources, not params: they never change the bytes.
"""

from nsdrecon.pipeline.meeg import run_download_eeg_subject
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
net = snakemake.resources
run_download_eeg_subject(
    api=net.api,
    subject=snakemake.params.subject,
    parallel=net.parallel,
    retries=net.retries,
    outputs={"train": snakemake.output.train, "test": snakemake.output.test},
)
