"""What the config schema cannot check, checked when the workflow is parsed, before any job runs.

A value can be valid JSON-schema-wise and still be wrong for this dataset or
this machine: an ROI file or label that does not exist, more sessions than a
subject has, a model folder that is not there, ``device: cuda`` without a GPU.
Caught only inside a job, such a mistake costs finished work: Snakemake
deletes a job's outputs when it starts it, and drops a job whose inputs cannot
exist from the DAG without saying so. Every check here raises
:class:`ConfigError` naming the config key and the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from nsdrecon import layout
from nsdrecon.hub import hub_offline, looks_like_path
from nsdrecon.synthetic.design import n_sessions
from nsdrecon.nsd.rois import NSD_ROI_FILES, NSD_ROI_LABELS, read_ctab
from nsdrecon.settings import SUBJECT_PATTERNS, modality

__all__ = ["NSD_SESSIONS", "ConfigError", "check_config", "check_device", "resolve_model_source"]

NSD_SESSIONS = {"subj01": 40, "subj02": 40, "subj03": 32, "subj04": 30, "subj05": 40, "subj06": 32, "subj07": 40, "subj08": 30}
"""Scan sessions with betas per NSD subject (all released since 2023)."""

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
"""Characters allowed in config values that become parts of paths (ROI file names)."""


class ConfigError(ValueError):
    """A config value that passes the schema but cannot work here; the message names the key and the value."""


def resolve_model_source(source: str, repo_root: str | os.PathLike) -> str:
    """A relative model folder is looked up in the working directory, then in the repository; else a Hub id."""
    if Path(source).is_absolute() or Path(source).exists():
        return source
    in_repo = Path(repo_root) / source
    return str(in_repo) if in_repo.exists() else source


def _roi_labels(config: Mapping, roi: str) -> tuple[str, ...] | None:
    """The label names of ROI file ``roi``: from a subject's downloaded ctab, else NSD's known table (None: unknown)."""
    if config["source"] == "nsd":
        for subject in config["subjects"]:
            ctab = Path(config["nsd_root"], layout.ctab(subject, roi))
            if ctab.is_file():
                return tuple(name for value, name in sorted(read_ctab(ctab).items()) if value > 0)
    return NSD_ROI_LABELS.get(roi)


def _check_label_sets(config: Mapping, key: str, label_sets: Mapping) -> None:
    known_files = tuple(NSD_ROI_LABELS) if config["source"] == "synthetic" else NSD_ROI_FILES
    for roi, labels in label_sets.items():
        if not SAFE_NAME.fullmatch(roi):
            raise ConfigError(f"{key}: ROI file name {roi!r} has characters other than letters, digits and _.+-")
        if roi not in known_files:
            raise ConfigError(f"{key}: no ROI file {roi!r} in {config['source']} data; known: {list(known_files)}")
        allowed = _roi_labels(config, roi)
        if labels == "all" or allowed is None:
            continue
        unknown = [label for label in labels if label not in allowed]
        if unknown:
            raise ConfigError(f"{key}.{roi}: unknown label(s) {unknown}; {roi} has {list(allowed)} (or 'all')")


def _check_rois(config: Mapping) -> None:
    masks = config["masks"]
    _check_label_sets(config, "masks", {masks["intersect"]: "all"})
    for stream in ("structural", "semantic"):
        _check_label_sets(config, f"masks.{stream}", masks[stream])
    for index, group in enumerate(config["figures"]["roi_groups"]):
        _check_label_sets(config, f"figures.roi_groups[{index}] ({group['group']})", group["labels"])


def _check_sessions(config: Mapping) -> None:
    wanted = config["betas"]["sessions"]
    if config["source"] == "synthetic":
        s = config["synthetic"]
        sessions = n_sessions(s["n_images_per_subject"], s["trials_per_session"])
        available = dict.fromkeys(config["subjects"], sessions)
    else:
        available = {subject: NSD_SESSIONS[subject] for subject in config["subjects"]}
    short = {subject: n for subject, n in available.items() if n < wanted}
    if short:
        raise ConfigError(f"betas.sessions: {wanted} sessions, but {short} have fewer (sessions per subject)")


def _check_models(config: Mapping, repo_root: Path, generative: list[tuple[str, str]]) -> None:
    """Each configured model is a folder that exists, or a Hub id (cached, when HF_HUB_OFFLINE is set)."""
    for key, source in [*generative, ("evaluate.clip_id", config["evaluate"]["clip_id"])]:
        resolved = resolve_model_source(source, repo_root)
        if looks_like_path(source):
            if not Path(resolved).is_dir():
                raise ConfigError(f"{key}: model folder {source!r} not found (looked in {Path.cwd()} and {repo_root})")
        elif hub_offline() and key != "evaluate.clip_id":  # a missing metric CLIP is a warning, not an error
            from huggingface_hub import snapshot_download

            try:
                snapshot_download(source, local_files_only=True)
            except Exception as error:  # noqa: BLE001 - any failure means: not in the offline cache
                raise ConfigError(
                    f"{key}: Hub model {source!r} is not in the local cache and HF_HUB_OFFLINE is set "
                    f"({type(error).__name__}); run `hf download {source}` on a machine with internet"
                ) from error


def check_device(config: Mapping, cuda_available: Callable[[], bool] | None = None) -> None:
    """``models.device: cuda`` needs a GPU that torch sees on this machine (for runs whose jobs run here)."""
    if config["models"]["device"] != "cuda":
        return
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    if not cuda_available():
        raise ConfigError(
            "models.device: 'cuda', but torch sees no CUDA device on this machine; use 'auto' (GPU when there "
            "is one) or 'cpu', or run where a GPU is visible"
        )


def check_config(config: Mapping, repo_root: str | os.PathLike, generative: list[tuple[str, str]]) -> None:
    """The checks of the data and the models; ``generative``: (config key, model id) of the models the methods use.

    :func:`check_device` is separate: it belongs where the jobs run, so the workflow calls it
    when a local (not dry, not cluster) run starts.
    """
    kind = modality(config["source"])
    if kind == "fmri":
        _check_rois(config)
        _check_sessions(config)
    _check_subjects(config, kind)
    _check_models(config, Path(repo_root), generative)


def _check_subjects(config: Mapping, kind: str) -> None:
    """Every subject id must be one of the source's (``subj01``, ``sub-01`` or ``P1`` style)."""
    wrong = [s for s in config["subjects"] if not re.fullmatch(SUBJECT_PATTERNS[kind], s)]
    if wrong:
        raise ConfigError(
            f"subjects: {wrong} are not subjects of source {config['source']!r} ({kind}: ids matching "
            f"{SUBJECT_PATTERNS[kind]!r})"
        )
