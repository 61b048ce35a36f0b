"""Rule figure_reconstructions: test stimuli beside each method's reconstructions."""

from nsdrecon.pipeline.figures import reconstruction_panel
from nsdrecon.plotting import plot_reconstruction_grid
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
ids, stimuli, recons = reconstruction_panel(
    snakemake.input.stimuli, dict(zip(p.methods, snakemake.input.reconstructions)), n_images=p.n_images
)
plot_reconstruction_grid(
    stimuli, recons, snakemake.output.png, snakemake.output.pdf,
    n_images=p.n_images, image_labels=[f"NSD {i}" for i in ids],
    title_note=f"{snakemake.wildcards.subject}; {p.title_note}".rstrip("; "),
)
