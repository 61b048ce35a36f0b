"""Rule stimulus_features: VAE latents and CLIP image/text tokens of every image the subjects saw."""

from nsdrecon.pipeline.features import run_stimulus_features
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import FeatureEncoding, ModelSource

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (see DEVICE in common.smk)
inp, p = snakemake.input, snakemake.params
run_stimulus_features(
    stimuli=inp.stimuli,
    stim_info=inp.get("stim_info"),  # NSD only: EEG/MEG read ids and captions from the subjects' files
    expdesign=inp.get("expdesign"),
    captions=list(inp.captions),
    subjects=p.subjects,
    sessions=p.sessions,
    trials_per_session=p.trials_per_session,
    model=ModelSource.model_validate(p.model),
    encoding=FeatureEncoding.model_validate(p.encoding),
    device=run.device,
    dtype=p.dtype,
    batch_size=run.batch_size,
    out_path=snakemake.output[0],
)
