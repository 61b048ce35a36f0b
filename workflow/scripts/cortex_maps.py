"""Rule cortex_maps: a subject's decoder weight magnitudes on fsaverage with NSD's transforms (MGH, GIFTI)."""

from nsdrecon.pipeline.cortex import run_cortex_maps
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
hemis = ("lh", "rh")
run_cortex_maps(
    subject=snakemake.wildcards.subject,
    decoders=dict(zip(snakemake.params.streams, inp.decoders)),
    betas=inp.betas,
    volume=inp.volume,
    transforms={
        h: {
            **{d: inp[f"{h}_{d}"] for d in ("layerB1", "layerB2", "layerB3")},
            "white-to-fsaverage": inp[f"{h}_fsaverage"],
        }
        for h in hemis
    },
    out_mgh={h: out[f"{h}_mgh"] for h in hemis},
    out_gifti={h: out[f"{h}_gifti"] for h in hemis},
    out_maps=out.maps,
)
