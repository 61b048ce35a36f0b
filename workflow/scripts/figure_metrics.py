"""Rule figure_metrics: metric bars per subject and method with the published references."""

import pandas as pd

from nsdrecon.plotting import plot_metric_bars
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
summary = pd.read_csv(snakemake.input[0], sep="\t")
plot_metric_bars(summary, snakemake.output.png, snakemake.output.pdf, title_note=snakemake.params.title_note)
