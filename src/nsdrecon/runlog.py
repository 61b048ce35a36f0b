"""Logging set-up for rule scripts: one log file per job, uncaught errors included.

Snakemake gives every rule a ``log:`` file; :func:`configure_logging` sends the
package's log records, Python warnings and any uncaught exception (with its
traceback) there, and echoes them to stderr so a failing job explains itself
in both the console and the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Route logging, warnings and uncaught exceptions to ``log_path`` and stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    logger = logging.getLogger("nsdrecon")

    def _log_uncaught(exc_type, exc, tb):
        logger.error("uncaught exception", exc_info=(exc_type, exc, tb))

    sys.excepthook = _log_uncaught
    return logger


def set_threads(n: int) -> None:
    """Let torch use exactly the cores Snakemake gave this job."""
    import torch

    torch.set_num_threads(max(1, int(n)))


@dataclass(frozen=True)
class Execution:
    """How a job computes, not what: read from the run's config inside the job, never passed as rule params.

    As params, switching the device or a batch size would rerun every feature,
    decoder, reconstruction and metric job, although none of them changes a
    result beyond floating-point rounding (the tests check that images,
    features, metrics and ridge fits do not depend on their batch).
    """

    device: str  # models.device
    features_batch_size: int  # features.batch_size
    reconstruct_batch_size: int  # reconstruct.batch_size
    minddiffuser_batch_size: int  # minddiffuser.batch_size
    evaluate_batch_size: int  # evaluate.batch_size
    ridge_target_block: int  # ridge.target_block


def execution(config: Mapping) -> Execution:
    """The execution settings of the run's config (see :class:`Execution`)."""
    return Execution(
        device=config["models"]["device"],
        features_batch_size=config["features"]["batch_size"],
        reconstruct_batch_size=config["reconstruct"]["batch_size"],
        minddiffuser_batch_size=config["minddiffuser"]["batch_size"],
        evaluate_batch_size=config["evaluate"]["batch_size"],
        ridge_target_block=config["ridge"]["target_block"],
    )
