"""Rule figure_reconstructions: test stimuli beside each method's reconstructions."""

from nsdrecon.pipeline.figures import run_figure_reconstructions
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
run_figure_reconstructions(
    stimuli=snakemake.input.stimuli,
    reconstructions=dict(zip(p.methods, snakemake.input.reconstructions)),
    n_images=p.n_images,
    subject=snakemake.wildcards.subject,
    title_note=p.title_note,
    out_png=snakemake.output.png,
    out_pdf=snakemake.output.pdf,
)
