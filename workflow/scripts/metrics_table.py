"""Rule metrics_table: per-subject and 4-subject-mean metrics beside the published references."""

import pandas as pd

from nsdrecon.published import read_published_results
from nsdrecon.runlog import configure_logging
from nsdrecon.tables import summarize, write_tables

configure_logging(snakemake.log[0])
per_image = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input.metrics], ignore_index=True)
out = snakemake.output
references = read_published_results(snakemake.input.published)
write_tables(summarize(per_image), out.tsv, out.md, out.tex, references=references, extra_notes=snakemake.params.notes)
