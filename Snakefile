# Reconstructing seen images from brain activity on the Natural Scenes Dataset.
#
#   NSD download -> ROI masks -> betas -> stimulus features -> decoders
#   -> diffusion reconstruction -> metrics -> figures
#
# config/config.yaml is the embedded default (generated NSD-format data, tiny
# random models); config/nsd.yaml runs the real dataset. See README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/masks.smk"
include: "workflow/rules/betas.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/decoders.smk"
include: "workflow/rules/reconstruct.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/cortex.smk"
include: "workflow/rules/meeg.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
