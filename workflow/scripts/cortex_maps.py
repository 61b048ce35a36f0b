"""Rule cortex_maps: a subject's decoder weight magnitudes on fsaverage with NSD's transforms (MGH, GIFTI)."""

from nsdrecon.cortex import DEPTHS, HEMISPHERES, TO_FSAVERAGE
from nsdrecon.pipeline.cortex_maps import run_cortex_maps
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
run_cortex_maps(
    subject=snakemake.wildcards.subject,
    decoders=dict(zip(snakemake.params.streams, inp.decoders)),
    betas=inp.betas,
    volume=inp.volume,
    transforms={h: {d: inp[f"{h}_{d}"] for d in (*DEPTHS, TO_FSAVERAGE)} for h in HEMISPHERES},
    out_mgh={h: out[f"{h}_mgh"] for h in HEMISPHERES},
    out_gifti={h: out[f"{h}_gifti"] for h in HEMISPHERES},
    out_maps=out.maps,
)
