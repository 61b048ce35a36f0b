"""Rule generate_synthetic_nsd: write a small dataset in NSD's exact key layout and formats."""

from nsdrecon.runlog import configure_logging
from nsdrecon.synthetic import write_synthetic_nsd

configure_logging(snakemake.log[0])
p = snakemake.params
write_synthetic_nsd(p.root, p.subjects, **p.synthetic, beta_version=p.beta_version)
