"""The Natural Scenes Dataset's file keys, relative to the bucket root.

Both worlds use these keys: the synthetic generator writes files at exactly
these paths and the downloader fetches the same keys from the public bucket,
so every reader downstream sees one layout (``nsd.md`` sections 1-4).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_BETA_VERSION = "betas_fithrf_GLMdenoise_RR"
BETA_FORMATS = {"hdf5": "hdf5", "nifti": "nii.gz"}
FUNC_SPACE = "func1pt8mm"
# not an NSD key: the generated dataset's ground truth, which also marks its folder as synthetic
SYNTHETIC_TRUTH = "synthetic_truth.h5"
TINY_TRAINING_RECORD = "training.json"  # written by nsdrecon.tiny_models into each model folder it trains


def tiny_trained(model_folder) -> bool:
    """True for a local model folder trained on generated scenes by :mod:`nsdrecon.tiny_models`."""
    return (Path(model_folder).expanduser() / TINY_TRAINING_RECORD).is_file()


def subject_name(subject: int | str) -> str:
    """``subj01`` for ``1``, ``"1"`` or ``"subj01"``."""
    if isinstance(subject, str) and subject.startswith("subj"):
        subject = subject[4:]
    return f"subj{int(subject):02d}"


def subject_index(subject: int | str) -> int:
    """1-based subject number: ``subj05`` -> ``5``."""
    return int(subject_name(subject)[4:])


def expdesign() -> str:
    return "nsddata/experiments/nsd/nsd_expdesign.mat"


def stim_info() -> str:
    return "nsddata/experiments/nsd/nsd_stim_info_merged.csv"


def stimuli() -> str:
    return "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"


def captions(split: str) -> str:
    """COCO caption annotations for ``train2017`` or ``val2017``."""
    if split not in ("train2017", "val2017"):
        raise ValueError(f"COCO split must be 'train2017' or 'val2017', got {split!r}")
    return f"nsddata_stimuli/stimuli/nsd/annotations/captions_{split}.json"


def roi(subject: int | str, name: str) -> str:
    return f"nsddata/ppdata/{subject_name(subject)}/{FUNC_SPACE}/roi/{name}.nii.gz"


def ctab(subject: int | str, name: str) -> str:
    return f"nsddata/freesurfer/{subject_name(subject)}/label/{name}.mgz.ctab"


def brainmask(subject: int | str) -> str:
    return f"nsddata/ppdata/{subject_name(subject)}/{FUNC_SPACE}/brainmask.nii.gz"


def mean_volume(subject: int | str) -> str:
    return f"nsddata/ppdata/{subject_name(subject)}/{FUNC_SPACE}/mean.nii.gz"


def responses(subject: int | str) -> str:
    return f"nsddata/ppdata/{subject_name(subject)}/behav/responses.tsv"


def betas(
    subject: int | str,
    session: int,
    fmt: str = "hdf5",
    version: str = DEFAULT_BETA_VERSION,
) -> str:
    """One session of single-trial betas, ``fmt`` in ``hdf5`` or ``nifti``."""
    if fmt not in BETA_FORMATS:
        raise ValueError(f"beta format must be one of {sorted(BETA_FORMATS)}, got {fmt!r}")
    return (
        f"nsddata_betas/ppdata/{subject_name(subject)}/{FUNC_SPACE}/{version}/"
        f"betas_session{int(session):02d}.{BETA_FORMATS[fmt]}"
    )


HEMISPHERES = ("lh", "rh")


def _hemisphere(hemi: str) -> str:
    if hemi not in HEMISPHERES:
        raise ValueError(f"hemisphere must be one of {list(HEMISPHERES)}, got {hemi!r}")
    return hemi


def transform(subject: int | str, hemi: str, name: str) -> str:
    """A surface transform of ``ppdata/subjXX/transforms``: ``name`` e.g. ``func1pt8-to-layerB2``, ``white-to-fsaverage``."""
    return f"nsddata/ppdata/{subject_name(subject)}/transforms/{_hemisphere(hemi)}.{name}.mgz"


def surface(subject: int | str, hemi: str, name: str) -> str:
    """A subject's FreeSurfer surface (``white``, ``pial``, ...)."""
    return f"nsddata/freesurfer/{subject_name(subject)}/surf/{_hemisphere(hemi)}.{name}"


def fsaverage_label(hemi: str, name: str) -> str:
    """An ROI on fsaverage: one label per vertex, values as in :func:`fsaverage_ctab`."""
    return f"nsddata/freesurfer/fsaverage/label/{_hemisphere(hemi)}.{name}.mgz"


def fsaverage_ctab(name: str) -> str:
    """The label table of an fsaverage ROI (a copy of the subjects' ``<name>.mgz.ctab``)."""
    return f"nsddata/freesurfer/fsaverage/label/{name}.mgz.ctab"
