"""nsdrecon: reconstructing seen images from brain activity on the Natural Scenes Dataset.

The package holds every piece of logic of the pipeline (data access, masks,
betas, stimulus features, ridge and decoders, diffusion reconstruction,
metrics, figures); the Snakemake rule scripts in ``workflow/scripts`` only
unpack their inputs, call functions from here and write outputs.
"""

__version__ = "0.1.0"
