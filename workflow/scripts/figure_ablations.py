"""Rule figure_ablations: HAVIR against its configured ablations, per metric."""

import pandas as pd

from nsdrecon.plotting import plot_ablations
from nsdrecon.runlog import configure_logging

configure_logging(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t")
plot_ablations(
    table, snakemake.output.png, snakemake.output.pdf,
    ablations=snakemake.params.ablations, title_note=snakemake.params.title_note,
)
