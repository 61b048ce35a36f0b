"""Stages of the EEG and MEG datasets (THINGS-EEG2, THINGS-MEG, and their generated worlds).

``meeg_responses`` writes, per subject, exactly the files the shared stages read for NSD:
``betas.nc`` (the streams' image x feature matrices, :mod:`nsdrecon.meeg.streams`), ``stimuli.h5`` (the
imgBrick layout, with the dataset's image ids as ``nsd_id``) and ``captions.tsv`` ("a photo of <concept>"),
plus ``sensors.nc`` (repetition-averaged image x channel x time, binned ``meeg.decimate`` samples at a time) for
the temporal decoding (:mod:`nsdrecon.pipeline.temporal`, which needs torch; these stages run in the data
environment, which has none).
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from PIL import Image
from tqdm.auto import tqdm

from ..atomic import atomic_path, write_text
from ..betas import NETCDF_ENGINE, save_betas
from ..download import DownloadError, RetryPolicy, download_file, extract_members
from ..meeg import StreamSpec, read_subject, sensor_dataset, stream_betas
from ..osf import find_osf_file, list_osf_files
from ..plotting.temporal import plot_temporal_decoding, plot_topographies
from ..settings import Meeg, SyntheticMeeg
from ..things import concept_caption, subject_archive
from ..things.eeg2 import OSF_PROJECT as EEG_OSF_PROJECT
from ..things.images import IMAGE_SET

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

__all__ = [
    "run_download_eeg_subject",
    "run_download_osf",
    "run_download_things",
    "run_figure_temporal",
    "run_figure_topographies",
    "run_generate_meeg_world",
    "run_meeg_responses",
]

THINGS_IMAGES_HELP = (
    "THINGS-MEG shows the THINGS database's object images, which come in a password-protected archive: "
    "download object_images_*.zip from https://osf.io/jum2f/ (the password is in the THINGS README there), "
    "unzip them so that the folder holds <concept>/<concept>_<nn>s.jpg, and set meeg.things_images to it"
)


def run_generate_meeg_world(*, modality: str, root: PathLike, subjects: Sequence[str], synthetic: SyntheticMeeg) -> None:
    """Write a generated THINGS-EEG2 (``eeg``) or THINGS-MEG (``meg``) world under ``root`` with its truth."""
    from ..synthetic.things_eeg import write_synthetic_things_eeg  # only this stage generates
    from ..synthetic.things_meg import write_synthetic_things_meg
    from ..things import EEG_CHANNELS_17, EEG_CHANNELS_63

    s = synthetic
    common = dict(seed=s.seed, n_test_concepts=s.n_test_concepts, image_size=s.image_size, snr=s.snr)
    if modality == "eeg":
        write_synthetic_things_eeg(
            root, list(subjects), n_train_concepts=s.n_concepts, n_train_exemplars=s.n_exemplars,
            train_repetitions=s.repetitions, test_repetitions=s.test_repetitions,
            channels=EEG_CHANNELS_17 if s.eeg_channels == 17 else EEG_CHANNELS_63, **common,
        )  # fmt: skip
    else:
        write_synthetic_things_meg(
            root, list(subjects), n_concepts=s.n_concepts, n_exemplars=s.n_exemplars, n_sensors=s.n_sensors, **common
        )


def run_download_things(*, url: str, parallel: int, retries: int, out_path: PathLike) -> None:
    """Fetch one THINGS-MEG file from OpenNeuro's bucket with the verified, resumable downloader."""
    download_file(url, out_path, parallel=parallel, retries=retries)


def run_download_osf(*, api: str, project: str, name: str, parallel: int, retries: int, out_path: PathLike) -> None:
    """Fetch the file called ``name`` of an OSF project, checked against the size and SHA-256 OSF lists."""
    policy = RetryPolicy(retries)
    file = find_osf_file(list_osf_files(api, project, policy=policy), name, project)
    logger.info("OSF %s%s: %s bytes, sha256 %s", project, file.path, file.size, file.sha256)
    download_file(file.url, out_path, parallel=parallel, retries=retries, expected=file.expected)


def run_download_eeg_subject(*, api: str, subject: str, parallel: int, retries: int, outputs: Mapping[str, PathLike]) -> None:
    """A THINGS-EEG2 subject's preprocessed files (``outputs``: ``train``, ``test``), from its OSF archive.

    The archive is fetched beside the subject's folder (a killed download resumes there), each output is
    extracted from the one member of its file name (zipfile checks every member's CRC), and the archive
    is removed once both are in place.
    """
    archive = Path(outputs["train"]).parent.with_name(subject_archive(subject))
    run_download_osf(
        api=api, project=EEG_OSF_PROJECT, name=archive.name, parallel=parallel, retries=retries, out_path=archive
    )
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
    members = {}
    for out in outputs.values():
        found = [n for n in names if n.rsplit("/", 1)[-1] == Path(out).name]
        if len(found) != 1:
            raise DownloadError(f"{archive}: {len(found)} members named {Path(out).name} (expected 1); it holds {names}")
        members[found[0]] = out
    extract_members(archive, members)
    archive.unlink()


def _open_image(path: Path, help_text: str, archives: dict[Path, zipfile.ZipFile]) -> Image.Image:
    """An image file, or the same member of a zip archive next to one of its folders (``training_images.zip``).

    ``archives`` keeps each archive open across calls: THINGS-EEG2's training archive holds 16540 images,
    and reading its directory once per image would cost minutes.
    """
    if path.exists():
        return Image.open(path)
    for folder in path.parents:
        archive = folder.with_name(folder.name + ".zip")
        if archive not in archives and archive.exists():
            archives[archive] = zipfile.ZipFile(archive)
        if archive in archives:
            try:
                member = archives[archive].getinfo(path.relative_to(folder.parent).as_posix())
            except KeyError:
                continue
            with archives[archive].open(member) as handle:
                image = Image.open(handle)
                image.load()
                return image
    raise FileNotFoundError(f"stimulus image {path} not found: {help_text}")


def _write_stimuli(out_path: PathLike, ids: np.ndarray, files: np.ndarray, size: int, help_text: str) -> None:
    """``imgBrick`` uint8 (N, size, size, 3) and sorted ``nsd_id`` (the layout of nsdrecon.nsd.stimulus_subset)."""
    order = np.argsort(ids)
    archives: dict[Path, zipfile.ZipFile] = {}
    try:
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("nsd_id", data=ids[order].astype(np.int64))
            brick = f.create_dataset("imgBrick", shape=(len(ids), size, size, 3), dtype=np.uint8, chunks=(1, size, size, 3))
            for row, k in enumerate(tqdm(order, desc="stimuli", unit="image", mininterval=5)):
                image = _open_image(Path(files[k]), help_text, archives)
                brick[row] = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
    finally:
        for archive in archives.values():
            archive.close()


def run_meeg_responses(
    *, modality: str, root: PathLike, subject: str, meeg: Meeg, outputs: Mapping[str, PathLike]
) -> None:
    """A subject's stream matrices, sensor responses, stimuli and captions.

    ``outputs``: ``betas`` (NetCDF), ``sensors`` (NetCDF), ``stimuli`` (HDF5), ``captions`` (TSV).
    """
    help_text = (
        THINGS_IMAGES_HELP if modality == "meg"
        else "THINGS-EEG2's image set is training_images.zip, test_images.zip and image_metadata.npy of "
        f"https://osf.io/y63gw/, under {Path(root) / IMAGE_SET}"
    )  # fmt: skip
    if modality == "meg" and not Path(meeg.things_images).is_dir():
        raise FileNotFoundError(f"meeg.things_images folder {meeg.things_images!r} not found. {THINGS_IMAGES_HELP}")
    responses = read_subject(
        modality, root, subject, things_images=meeg.things_images, channels=meeg.channels, window=tuple(meeg.window)
    )
    streams = {name: StreamSpec(s.channels, tuple(s.window)) for name, s in meeg.streams}
    save_betas(
        stream_betas(
            responses, streams, subject=subject, train_trials=meeg.train_trials,
            test_repetitions=meeg.test_repetitions, decimate=meeg.decimate,
        ),
        outputs["betas"],
    )  # fmt: skip
    sensors = sensor_dataset(responses, subject=subject, test_repetitions=meeg.test_repetitions, decimate=meeg.decimate)
    save_betas(sensors, outputs["sensors"])
    ids = np.concatenate([responses.train_ids, responses.test_ids])
    files = np.concatenate([responses.train_images, responses.test_images])
    _write_stimuli(outputs["stimuli"], ids, files, meeg.image_size, help_text)
    concepts = np.concatenate([responses.train.concepts, responses.test.concepts])
    table = pd.DataFrame({"nsd_id": ids, "caption": [concept_caption(c) for c in concepts]}).sort_values("nsd_id")
    write_text(outputs["captions"], table.to_csv(sep="\t", index=False))
    logger.info("%s: %d images, stimuli %d px", subject, len(ids), meeg.image_size)


def run_figure_temporal(*, scores: Sequence[PathLike], title_note: str, out_png: PathLike, out_pdf: PathLike) -> None:
    """Two-way identification over time per target: every subject and their mean."""
    table = pd.concat([pd.read_csv(path, sep="\t") for path in scores], ignore_index=True)
    plot_temporal_decoding(table, out_png, out_pdf, title_note=title_note)


def run_figure_topographies(*, patterns: Sequence[PathLike], title_note: str, out_png: PathLike, out_pdf: PathLike) -> None:
    """Activation patterns per target and window on the sensor layout: one subject, or the mean of several."""
    datasets = []
    for path in patterns:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
            datasets.append(ds.load())
    plot_topographies(datasets, out_png, out_pdf, title_note=title_note)
