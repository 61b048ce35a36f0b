"""Benchmark: extracting a visual-cortex mask from NSD beta sessions.

Generates N sessions at NSD's real size (subj01 func1pt8mm, 81 x 104 x 83 voxels,
750 trials, int16) in both NSD formats: ``betas_sessionNN.hdf5`` with ``/betas``
of shape (T, Z, Y, X) chunked (750, 1, 1, 1) as the NSD manual describes (chunk
size [1 1 1 750] in MATLAB order: one chunk = one voxel's 750 trials), uncompressed
(a session is then the ~1.05 GB the manual's size implies), and ``betas_sessionNN.nii.gz``
(X, Y, Z, T), zero outside an ellipsoidal brain as NSD's export zeroes voxels
outside its brain mask. The mask has 15,724 voxels (subj01's nsdgeneral count):
the most posterior voxels of a folded 2-3-voxel-thick ribbon inside the brain,
so that it is contiguous in places and fragmented along X like cortex.

Methods, each in its own subprocess (its peak RSS is its own), reading all N sessions:

- ``ours_hdf5``: :func:`nsdrecon.nsd.read_betas_session` on the HDF5 files, the
  path ``nsdrecon.betas.extract_stream_betas`` takes;
- ``ours_nifti``: the same function on the ``.nii.gz`` files (streamed one trial volume at a time);
- ``peers_nifti``: Brain-Diffuser's ``prepare_nsddata.py``: ``nib.load(nii.gz).get_fdata()
  .astype(float32)`` then ``beta[mask].T``;
- ``raw_bytes``: reading every byte of each HDF5 file sequentially (64 MiB blocks),
  the floor for any method that reads the whole session;
- ``h5py_full``: h5py reading the whole ``/betas`` dataset.

Prints seconds, seconds per session, peak RSS and the ratio of each method's time to
``ours_hdf5``; checks that all mask-extracting methods return the same numbers.

Usage::

    .venv/bin/python workflow/benchmarks/bench_betas.py --sessions 2
    .venv/bin/python workflow/benchmarks/bench_betas.py --quick
    .venv/bin/python workflow/benchmarks/bench_betas.py --sessions 2 --cold   # evict the files from the page cache first

Generated files go to ``--folder`` (``/tmp/nsdbench``; ~1.4 GB per session) and are
deleted at the end unless ``--keep`` (which also reuses files already there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from nsdrecon.nsd.betas_io import _mask_runs  # noqa: E402

NSD_SHAPE = (81, 104, 83)  # subj01 func1pt8mm, X Y Z
NSD_TRIALS = 750
NSD_MASK_VOXELS = 15724  # subj01 nsdgeneral
QUICK_SHAPE, QUICK_TRIALS, QUICK_MASK_VOXELS = (40, 52, 41), 750, 1966
METHODS = ("ours_hdf5", "ours_nifti", "peers_nifti", "raw_bytes", "h5py_full")
MASK_METHODS = ("ours_hdf5", "ours_nifti", "peers_nifti")
BLOCK_BYTES = 64 << 20


# --------------------------------------------------------------------------- data


def brain_and_mask(shape: tuple[int, int, int], n_voxels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoidal brain and a cortex-like mask of exactly ``n_voxels`` (both (X, Y, Z) bool)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float64)
    centre = (np.asarray(shape, dtype=float)[:, None, None, None] - 1) / 2
    radii = 0.46 * np.asarray(shape, dtype=float)[:, None, None, None]
    brain = (((grid - centre) / radii) ** 2).sum(axis=0) <= 1
    # A level band of a smooth random field is a folded sheet 2-3 voxels thick.
    field = gaussian_filter(rng.standard_normal(shape), sigma=4.0)
    ribbon = brain & (np.abs(field) < 0.12 * field.std())
    posterior_first = np.argsort(grid[1][ribbon], kind="stable")[:n_voxels]
    if len(posterior_first) < n_voxels:
        raise ValueError(f"ribbon has only {len(posterior_first)} voxels, {n_voxels} asked")
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(np.argwhere(ribbon)[posterior_first].T)] = True
    return brain, mask


def write_session(folder: Path, session: int, brain: np.ndarray, n_trials: int, seed: int) -> tuple[Path, Path]:
    """One session in both NSD formats from one (T, Z, Y, X) int16 array."""
    import h5py
    import nibabel as nib

    rng = np.random.default_rng(seed + session)
    shape_tzyx = (n_trials, *brain.shape[::-1])
    betas = np.zeros(shape_tzyx, dtype=np.int16)
    inside = brain.T  # (Z, Y, X)
    for t in range(n_trials):
        betas[t][inside] = rng.integers(-2400, 2400, int(inside.sum()), dtype=np.int16)
    hdf5 = folder / f"betas_session{session:02d}.hdf5"
    with h5py.File(hdf5, "w") as handle:
        handle.create_dataset("betas", data=betas, chunks=(n_trials, 1, 1, 1))
    # (T, Z, Y, X) in C order is (X, Y, Z, T) in Fortran order: NIfTI's on-disk layout, no copy.
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    affine[:3, 3] = -((1 + np.asarray(brain.shape)) / 2 - 1) * 1.8
    nifti = folder / f"betas_session{session:02d}.nii.gz"
    img = nib.Nifti1Image(betas.T, affine)
    img.set_data_dtype(np.int16)
    nib.save(img, nifti)
    return hdf5, nifti


def evict_from_page_cache(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache (only ours; nothing global)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- methods (run in a child)


def peak_rss_mib() -> float:
    """This process's peak resident memory (``VmHWM``; unlike ``ru_maxrss`` it restarts at exec)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def read_session(method: str, hdf5: Path, nifti: Path, mask: np.ndarray, n_trials: int) -> np.ndarray | None:
    """One session by one method: (n_trials, n_voxels) for the mask methods, else None."""
    import h5py
    import nibabel as nib

    from nsdrecon.nsd import read_betas_session

    if method == "ours_hdf5":
        return read_betas_session(hdf5, mask, expected_trials=n_trials)
    if method == "ours_nifti":
        return read_betas_session(nifti, mask, expected_trials=n_trials)
    if method == "peers_nifti":  # Brain-Diffuser's prepare_nsddata.py
        return nib.load(nifti).get_fdata().astype(np.float32)[mask].T
    if method == "raw_bytes":
        buffer = bytearray(BLOCK_BYTES)
        with open(hdf5, "rb", buffering=0) as handle:
            while handle.readinto(buffer):
                pass
        return None
    if method == "h5py_full":
        with h5py.File(hdf5, "r") as handle:
            handle["betas"][()]
        return None
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def run_method(method: str, folder: Path, n_sessions: int, n_trials: int) -> dict:
    """Time ``method`` over all sessions (reads only); checksum of what it extracted."""
    import h5py  # noqa: F401  (imported before the baseline memory is taken)
    import nibabel  # noqa: F401

    import nsdrecon.nsd  # noqa: F401

    mask = np.load(folder / "mask.npy")
    start_rss = peak_rss_mib()
    seconds, checksum = 0.0, 0.0
    for session in range(1, n_sessions + 1):
        paths = [folder / f"betas_session{session:02d}.{ext}" for ext in ("hdf5", "nii.gz")]
        start = time.perf_counter()
        values = read_session(method, *paths, mask, n_trials)
        seconds += time.perf_counter() - start
        if values is not None:  # column-weighted, so a voxel-order difference changes it
            checksum += float(values.astype(np.float64).sum(axis=0) @ np.arange(values.shape[1]))
        del values
    return {
        "method": method,
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "start_rss_mib": start_rss,
        "checksum": checksum,
    }


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, help="sessions to generate and read (default 2; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help=f"small geometry {QUICK_SHAPE}, 1 session: under a minute")
    parser.add_argument("--cold", action="store_true", help="evict the files from the page cache before each method")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/nsdbench"), help="scratch folder, deleted at the end")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--keep", action="store_true", help="keep the generated files (and reuse them if present)")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "SESSIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape, n_trials, n_mask = (
        (QUICK_SHAPE, QUICK_TRIALS, QUICK_MASK_VOXELS) if args.quick else (NSD_SHAPE, NSD_TRIALS, NSD_MASK_VOXELS)
    )
    n_sessions = args.sessions or (1 if args.quick else 2)

    if args.child:
        print(json.dumps(run_method(args.child[0], args.folder, int(args.child[1]), n_trials)))
        return

    one_session_mib = np.prod(shape) * n_trials * 2 / 2**20
    args.folder.mkdir(parents=True, exist_ok=True)
    try:
        brain, mask = brain_and_mask(shape, n_mask, seed=0)
        np.save(args.folder / "mask.npy", mask)
        runs = len(_mask_runs(mask.T))  # = HDF5 reads our reader makes per session
        print(
            f"geometry {shape} x {n_trials} trials, {n_sessions} session(s), one session = {one_session_mib:.0f} MiB; "
            f"mask {int(mask.sum())} voxels in {runs} runs along X; brain {int(brain.sum())} voxels",
            flush=True,
        )
        paths = []
        for session in range(1, n_sessions + 1):
            existing = [args.folder / f"betas_session{session:02d}.{ext}" for ext in ("hdf5", "nii.gz")]
            if args.keep and all(p.exists() for p in existing):
                paths += existing
                continue
            start = time.perf_counter()
            paths += write_session(args.folder, session, brain, n_trials, seed=0)
            print(
                f"  wrote session {session} in {time.perf_counter() - start:.1f} s "
                f"(hdf5 {paths[-2].stat().st_size / 2**20:.0f} MiB, nii.gz {paths[-1].stat().st_size / 2**20:.0f} MiB)",
                flush=True,
            )

        results = {}
        for method in args.methods:
            if args.cold:
                evict_from_page_cache(paths)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--folder",
                    str(args.folder),
                    *(["--quick"] if args.quick else []),
                    "--child",
                    method,
                    str(n_sessions),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                raise SystemExit(f"{method} failed:\n{out.stderr}")
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[method]
            print(
                f"  {method:12s} {r['seconds']:8.2f} s  {r['seconds'] / n_sessions:7.2f} s/session  "
                f"peak RSS {r['peak_rss_mib']:6.0f} MiB = {r['peak_rss_mib'] / one_session_mib:4.2f} x one session "
                f"(+{r['peak_rss_mib'] - r['start_rss_mib']:.0f} MiB over the {r['start_rss_mib']:.0f} MiB after imports)",
                flush=True,
            )

        checks = {m: results[m]["checksum"] for m in MASK_METHODS if m in results}
        if len(set(checks.values())) > 1:
            raise SystemExit(f"methods disagree on the extracted values: {checks}")
        if "ours_hdf5" in results:
            ours = results["ours_hdf5"]["seconds"]
            print(
                f"ratios to ours_hdf5 (time of method / time of ours; > 1 means ours is faster); cache {'cold' if args.cold else 'warm'}:"
            )
            for method, r in results.items():
                if method != "ours_hdf5":
                    print(f"  {method:12s} {r['seconds'] / ours:7.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
