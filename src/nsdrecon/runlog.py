"""Logging set-up for rule scripts: one log file per job, uncaught errors included.

Snakemake gives every rule a ``log:`` file; :func:`configure_logging` sends the
package's log records, Python warnings and any uncaught exception (with its
traceback) there, and echoes them to stderr so a failing job explains itself
in both the console and the log.
"""

from __future__ import annotations

import logging
import sys
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
