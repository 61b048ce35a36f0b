"""Rule minddiffuser_features: SD latents, SD text conditioning and CLIP ViT-B/32 layer features of the seen images."""

from nsdrecon.pipeline.features import run_minddiffuser_features
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import FeatureEncoding, MindDiffuserTargets, ModelSource

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
run = snakemake.resources  # device, batch size: execution settings (see DEVICE in common.smk)
inp, p = snakemake.input, snakemake.params
run_minddiffuser_features(
    stimuli=list(inp.stimuli),
    stim_info=inp.get("stim_info"),  # NSD only: EEG/MEG read ids and captions from the subjects' files
    expdesign=inp.get("expdesign"),
    captions=list(inp.captions),
    subjects=p.subjects,
    sessions=p.sessions,
    trials_per_session=p.trials_per_session,
    model=ModelSource.model_validate(p.model),
    clip=ModelSource.model_validate(p.clip),
    targets=MindDiffuserTargets.model_validate(p.targets),
    encoding=FeatureEncoding.model_validate(p.encoding),
    device=run.device,
    dtype=p.dtype,
    batch_size=run.batch_size,
    out_path=snakemake.output[0],
)
