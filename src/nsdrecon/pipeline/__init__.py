"""File-level stages of the pipeline, one module per rule family.

Each ``run_*`` function takes the paths and settings a Snakemake rule gives
it, calls the array-level library (readers, models, ridge, metrics), and
writes the rule's outputs atomically. Rule scripts call these and nothing else,
so every stage can also be run from Python without Snakemake.
"""
