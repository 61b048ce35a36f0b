"""Stage ``temporal_decoding``: when and where the EEG/MEG sensors carry each decoding target.

It reads a subject's ``sensors.nc`` (written by ``meeg_responses``, :mod:`nsdrecon.pipeline.meeg`) and fits
ridge decoders per sliding window on the configured device (torch), so it runs in the GPU environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..atomic import write_text
from ..betas import NETCDF_ENGINE, save_betas
from ..devices import resolve_device
from ..feature_files import read_features
from ..meeg import select_window
from ..meeg.temporal import activation_pattern, decode_window, sliding_windows, temporal_decoding
from ..settings import RidgeFit, TemporalDecoding
from ..stats import two_way_identification

PathLike = str | os.PathLike

__all__ = ["run_temporal_decoding"]


def run_temporal_decoding(
    *, sensors: PathLike, features: PathLike, temporal: TemporalDecoding, ridge: RidgeFit, device: str,
    outputs: Mapping[str, PathLike],
) -> None:  # fmt: skip
    """Sliding-window decoding of each target (``outputs["scores"]``, TSV) and activation patterns per
    topography window (``outputs["patterns"]``, NetCDF: target x window x channel, with sensor positions)."""
    dev = resolve_device(device)
    with xr.open_dataset(sensors, engine=NETCDF_ENGINE) as ds:
        ds = ds.load()
    split, times = ds["split"].to_numpy(), ds["time"].to_numpy()
    train, test = split == "train", split == "test"
    response = ds["response"].to_numpy()
    data_train, data_test = response[train], response[test]  # copied once, for every window
    values = read_features(features, list(temporal.targets), ds["nsd_id"].to_numpy())
    targets = {name: (values[name][train], values[name][test]) for name in temporal.targets}
    windows = sliding_windows(times, temporal.width_s, temporal.step_s)
    scores = temporal_decoding(
        data_train, data_test, times, targets, windows, alphas=ridge.alphas, cv=ridge.cv_splits, device=dev
    )
    scores.insert(0, "subject", ds.attrs["subject"])
    write_text(outputs["scores"], scores.to_csv(sep="\t", index=False))

    n_channels = data_train.shape[1]
    patterns = np.zeros((len(targets), len(temporal.topography_windows), n_channels))
    accuracy = np.zeros(patterns.shape[:2])
    for j, window in enumerate(temporal.topography_windows):
        samples = select_window(times, window, f"{sensors}: topography window")
        X = data_train[..., samples].reshape(len(data_train), -1)
        X_test = data_test[..., samples].reshape(len(data_test), -1)
        for i, (name, (y_train, y_test)) in enumerate(targets.items()):
            Y = y_train.reshape(len(y_train), -1)
            pred_test, pred_train = decode_window(
                X, X_test, Y, alphas=ridge.alphas, cv=ridge.cv_splits, device=dev, predict_train=True
            )
            patterns[i, j] = activation_pattern(X, pred_train, n_channels)
            accuracy[i, j] = two_way_identification(y_test.reshape(len(y_test), -1), pred_test).mean()
    result = xr.Dataset(
        {"pattern": (("target", "window", "channel"), patterns), "two_way": (("target", "window"), accuracy)},
        coords={
            "target": list(targets), "window_start": ("window", [w[0] for w in temporal.topography_windows]),
            "window_end": ("window", [w[1] for w in temporal.topography_windows]),
            "channel": ds["channel"].to_numpy(), "position": (("channel", "xyz"), ds["position"].to_numpy()),
        },
        attrs={"subject": ds.attrs["subject"], "ch_type": ds.attrs["ch_type"]},
    )  # fmt: skip
    save_betas(result, outputs["patterns"])
