"""Rule metrics_table: per-subject and 4-subject-mean metrics beside the published references."""

import pandas as pd

from nsdrecon.runlog import configure_logging
from nsdrecon.tables import summarize, write_tables

configure_logging(snakemake.log[0])
per_image = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input], ignore_index=True)
out = snakemake.output
write_tables(summarize(per_image), out.tsv, out.md, out.tex, extra_notes=snakemake.params.notes)
