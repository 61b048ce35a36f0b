"""Rule temporal_decoding: sliding-window decoding accuracy per target, and activation patterns per window."""

from nsdrecon.pipeline.temporal import run_temporal_decoding
from nsdrecon.runlog import configure_logging, set_threads
from nsdrecon.settings import RidgeFit, TemporalDecoding

configure_logging(snakemake.log[0])
set_threads(snakemake.threads)
p = snakemake.params
run_temporal_decoding(
    sensors=snakemake.input.sensors,
    features=snakemake.input.features,
    temporal=TemporalDecoding.model_validate(p.temporal),
    ridge=RidgeFit.model_validate(p.ridge),
    device=snakemake.resources.device,
    outputs=dict(snakemake.output.items()),
)
