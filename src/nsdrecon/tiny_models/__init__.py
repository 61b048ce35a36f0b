"""Tiny models of the real classes, trained on the generated world: the embedded default's pretrained weights.

Run ``python -m nsdrecon.tiny_models`` (:mod:`nsdrecon.tiny_models.train`) to
reproduce the weights shipped under ``resources/models/tiny-*``. Not part of
the Snakemake DAG: the pipeline only loads the results, as it loads real
pretrained weights.
"""
