"""Memory and run time a rule asks the scheduler for, from the size of the job's inputs.

Snakemake evaluates these callables when a job is ready to run, with its input
files on disk, so each request follows the run's own scale: the embedded
default's jobs ask for what a laptop has, real NSD's for what 35 GB of betas or
a 6 GB diffusion model need. A cluster profile therefore names partitions and
GPUs only, never sizes. Each rule states its two numbers next to its other
directives (``mem_mb=memory(2000, 0.3)``): a floor (the interpreter, torch and
the job's small arrays) and how many MB of memory, or minutes, each MB/GB of
input costs. A retried job (``retries:``) asks for its memory times the attempt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

__all__ = ["memory", "minutes"]

MIB = 1 << 20


def memory(floor_mb: int, per_input_mb: float = 0.0, of: Sequence[str] | None = None) -> Callable[..., int]:
    """``mem_mb`` = ``floor_mb + per_input_mb × input MB``, doubled on the second attempt, and so on.

    ``of`` names the inputs the job loads, where others are only glanced at (a betas file read for its
    voxel coordinates): only those count. Default: every input.
    """

    def mem_mb(wildcards, input, attempt) -> int:  # noqa: A002 - Snakemake passes arguments by these names
        return int((floor_mb + per_input_mb * _input_mb(input, of)) * attempt)

    return mem_mb


def minutes(floor_min: int, per_input_gb: float = 0.0) -> Callable[..., int]:
    """``runtime`` in minutes = ``floor_min + per_input_gb × input GB``."""

    def runtime(wildcards, input) -> int:  # noqa: A002
        return int(floor_min + per_input_gb * _input_mb(input, None) / 1024)

    return runtime


def _input_mb(input, of: Sequence[str] | None) -> float:  # noqa: A002
    """Size in MB of a job's input files, or of its inputs named ``of`` (0 for files not yet on disk, as in a dry run)."""
    if of is None:
        try:
            return float(input.size_mb)
        except (FileNotFoundError, OSError, TypeError):
            return 0.0
    files = [f for name in of for f in ([input[name]] if isinstance(input[name], str) else input[name])]
    return sum(os.path.getsize(f) for f in files if os.path.exists(f)) / MIB
