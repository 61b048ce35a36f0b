"""Benchmark: multi-target ridge with alpha chosen per target, ours against scikit-learn and himalaya.

One random problem (z-scored inputs X with a low-dimensional signal shared with
the targets Y, like betas and stimulus features) is written to an HDF5 file,
Y chunked along targets. Each method runs in its own subprocess (its peak RSS
is its own), fits on the training rows, chooses one alpha per target from
``--alphas`` and predicts the test rows:

- ``ours_kfold``: :func:`nsdrecon.ridge.fit_ridge` with 5-fold CV (one
  eigendecomposition per fold, every alpha a rescale), then ``predict``;
- ``ours_gcv``: :func:`nsdrecon.ridge.fit_ridge_low_rank` with GCV from one
  decomposition, Y streamed from the HDF5 file in target blocks, test
  predictions in the kernel form and rank-``--rank`` factors of the weights
  (the Semantic Extractor's initialisation); the p x t weights are never formed;
- ``sklearn``: ``sklearn.linear_model.Ridge`` fitted once per alpha and fold
  (what Brain-Diffuser does for one alpha), on the same folds, then one refit
  per chosen alpha;
- ``himalaya``: ``himalaya.ridge.RidgeCV`` (torch backend, CUDA when present)
  on the same folds.

Prints seconds, peak RSS, the time ratio of each method to ``sklearn`` (or to
``ours_gcv``), and the largest relative difference of each method's test
predictions from ``ours_kfold``'s.

Sizes: default n=2,000 train, p=4,000, t=20,000, 10 alphas, 5 folds, 200 test;
``--quick`` n=300, p=600, t=1,000; ``--full`` NSD scale n=8,859, p=15,000,
t=197,376, 982 test, ``ours_gcv`` only unless ``--methods`` says otherwise.
``--n-targets T`` overrides t; with ``--full`` and T < 197,376 the run is
repeated at T/10 and T targets and the time is extrapolated linearly to
197,376 (fixed decomposition cost plus a per-target cost).

Usage::

    .venv/bin/python workflow/benchmarks/bench_ridge.py --quick
    .venv/bin/python workflow/benchmarks/bench_ridge.py                       # CPU-sized problem
    .venv/bin/python workflow/benchmarks/bench_ridge.py --full --n-targets 10000 --threads 2
    .venv/bin/python workflow/benchmarks/bench_ridge.py --full               # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

SIZES = {  # n_train, n_features, n_targets, n_test
    "quick": (300, 600, 1000, 60),
    "default": (2000, 4000, 20000, 200),
    "full": (8859, 15000, 197376, 982),
}
METHODS = ("ours_kfold", "ours_gcv", "sklearn", "himalaya")
N_FOLDS = 5
SIGNAL_DIMS = 64
TARGET_CHUNK = 256


# --------------------------------------------------------------------------- data


def write_problem(path: Path, n: int, p: int, t: int, n_test: int, seed: int = 0) -> None:
    """X (n + n_test, p) z-scored, Y (n, t) float32 chunked along targets; shared signal of SIGNAL_DIMS dims."""
    import h5py

    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n + n_test, SIGNAL_DIMS)).astype(np.float32)
    X = signal @ rng.normal(size=(SIGNAL_DIMS, p)).astype(np.float32) / np.sqrt(SIGNAL_DIMS)
    X += 2.0 * rng.normal(size=X.shape).astype(np.float32)
    X = (X - X[:n].mean(0)) / X[:n].std(0)
    block = 8192
    with h5py.File(path, "w") as f:
        f["X_train"], f["X_test"] = X[:n], X[n:]
        Y = f.create_dataset("Y", shape=(n, t), dtype="float32", chunks=(n, min(TARGET_CHUNK, t)))
        for start in range(0, t, block):
            width = min(block, t - start)
            mixing = rng.normal(size=(SIGNAL_DIMS, width)).astype(np.float32) / np.sqrt(SIGNAL_DIMS)
            noise = rng.uniform(0.5, 4.0, size=width).astype(np.float32)
            Y[:, start : start + width] = signal[:n] @ mixing + noise * rng.normal(size=(n, width)).astype(np.float32)


# --------------------------------------------------------------------------- methods (run in a subprocess)


def _choose_per_target(sse: np.ndarray) -> np.ndarray:
    return sse.argmin(0)


def run_sklearn(X, Y, X_test, alphas, splits, max_fits: int | None) -> tuple[np.ndarray | None, float]:
    """Per-target CV over every (fold, alpha) fit, then one refit per chosen alpha.

    With ``max_fits`` only that many CV fits run (all alike in cost) and the
    returned factor scales the time to all of them plus one refit; no
    predictions then.
    """
    from sklearn.linear_model import Ridge

    cv_fits = [(train, test, a) for train, test in splits for a in range(len(alphas))]
    if max_fits is not None and max_fits < len(cv_fits):
        for train, test, a in cv_fits[:max_fits]:
            Ridge(alpha=alphas[a], fit_intercept=True).fit(X[train], Y[train]).predict(X[test])
        return None, (len(cv_fits) + 1) / max_fits
    sse = np.zeros((len(alphas), Y.shape[1]))
    for train, test, a in cv_fits:
        pred = Ridge(alpha=alphas[a], fit_intercept=True).fit(X[train], Y[train]).predict(X[test])
        sse[a] += ((Y[test] - pred) ** 2).sum(0)
    best = _choose_per_target(sse)
    out = np.empty((len(X_test), Y.shape[1]), dtype=np.float32)
    for a in np.unique(best):
        cols = np.flatnonzero(best == a)
        pred = Ridge(alpha=alphas[a], fit_intercept=True).fit(X, Y[:, cols]).predict(X_test)
        out[:, cols] = pred.reshape(len(X_test), -1)  # one column comes back 1-D
    return out, 1.0


def run_himalaya(X, Y, X_test, alphas, splits):
    import torch
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV

    backend = set_backend("torch_cuda" if torch.cuda.is_available() else "torch")
    model = RidgeCV(alphas=np.asarray(alphas), fit_intercept=True, cv=splits, solver_params=dict(n_targets_batch=4096))
    model.fit(X, Y)
    return backend.to_numpy(model.predict(X_test))


def run_ours_kfold(X, Y, X_test, alphas, splits, device):
    from nsdrecon.ridge import fit_ridge

    fit = fit_ridge(X, Y, alphas, cv=N_FOLDS, alpha_per="target", scoring="mse", standardize_x=False, device=device)
    return fit.predict(X_test)


def run_ours_gcv(data: Path, alphas, rank: int, device):
    import h5py

    from nsdrecon.ridge import fit_ridge_low_rank

    with h5py.File(data, "r") as f:
        X, X_test = f["X_train"][()], f["X_test"][()]
        fit = fit_ridge_low_rank(
            X, f["Y"], alphas, rank=rank, X_test=X_test, cv="gcv", alpha_per="target", scoring="mse",
            standardize_x=False, device=device,
        )  # fmt: skip
    return fit.test_predictions


def run_method(method: str, data: Path, args) -> dict:
    """Run one method on the problem in ``data``; write its predictions to ``args.out``; return time and peak RSS."""
    import h5py

    from nsdrecon.ridge import kfold_splits

    alphas, rank, device = args.alphas, args.rank, args.device
    start = time.perf_counter()
    scale = 1.0
    if method == "ours_gcv":
        pred = run_ours_gcv(data, alphas, rank, device)
    else:
        with h5py.File(data, "r") as f:
            X, Y, X_test = f["X_train"][()], f["Y"][()], f["X_test"][()]
        splits = kfold_splits(len(X), N_FOLDS, seed=0)
        if method == "sklearn":
            pred, scale = run_sklearn(X, Y, X_test, alphas, splits, args.sklearn_fits)
        elif method == "himalaya":
            pred = run_himalaya(X, Y, X_test, alphas, splits)
        else:
            pred = run_ours_kfold(X, Y, X_test, alphas, splits, device)
    seconds = (time.perf_counter() - start) * scale
    if pred is not None:
        np.save(args.out, np.asarray(pred, dtype=np.float32))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "method": method,
        "seconds": seconds,
        "cpu_seconds": (usage.ru_utime + usage.ru_stime) * scale,  # robust to other load on the machine
        "peak_rss_gb": usage.ru_maxrss / 2**20,
        "extrapolated": scale != 1.0,
    }


# --------------------------------------------------------------------------- driver


def in_subprocess(method: str, data: Path, args, out: Path) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    command = [sys.executable, __file__, "--run", method, "--data", str(data), "--out", str(out)]
    command += ["--threads", str(args.threads), "--rank", str(args.rank), "--device", args.device]
    command += ["--alphas", *map(str, args.alphas)]
    if args.sklearn_fits:
        command += ["--sklearn-fits", str(args.sklearn_fits)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())


def bench(size: tuple[int, int, int, int], methods: list[str], args, workdir: Path) -> list[dict]:
    n, p, t, n_test = size
    data = workdir / f"ridge_{n}x{p}x{t}.h5"
    start = time.perf_counter()
    write_problem(data, n, p, t, n_test)
    print(f"problem n={n} p={p} t={t} n_test={n_test}, {len(args.alphas)} alphas: written in "
          f"{time.perf_counter() - start:.1f} s ({data.stat().st_size / 2**30:.2f} GiB)", flush=True)  # fmt: skip
    rows = []
    for method in methods:
        row = in_subprocess(method, data, args, workdir / f"{method}.npy")
        rows.append(row)
        note = " (extrapolated from --sklearn-fits)" if row.pop("extrapolated") else ""
        print(
            f"  {method:11s} {row['seconds']:9.1f} s ({row['cpu_seconds']:.0f} CPU s)   "
            f"peak RSS {row['peak_rss_gb']:6.2f} GiB{note}",
            flush=True,
        )
    reference = "sklearn" if "sklearn" in methods else methods[0]
    ref_row = next(r for r in rows if r["method"] == reference)
    base = np.load(workdir / "ours_kfold.npy") if "ours_kfold" in methods else None
    for row in rows:
        row["speedup_vs_" + reference] = ref_row["seconds"] / row["seconds"]
        predictions = workdir / f"{row['method']}.npy"
        if base is not None and predictions.exists():
            row["max_rel_diff_vs_ours_kfold"] = max_rel_diff(np.load(predictions), base)
    data.unlink()
    return rows


def print_table(rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row if k != "method"))
    print("method       " + "  ".join(f"{k:>26s}" for k in keys))
    for row in rows:
        print(f"{row['method']:12s} " + "  ".join(f"{row.get(k, float('nan')):26.4g}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small problem, < 1 min")
    mode.add_argument("--full", action="store_true", help="NSD scale (ours_gcv unless --methods)")
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--n-targets", type=int, help="override the number of targets")
    parser.add_argument("--alphas", type=float, nargs="+", default=list(np.logspace(1, 5.5, 10)))
    parser.add_argument("--rank", type=int, default=1024, help="rank of ours_gcv's weight factors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workdir", type=Path, help="where the problem file goes (default: a temp dir)")
    parser.add_argument(
        "--sklearn-fits", type=int, help="run only this many of sklearn's CV fits; scale its time to all of them"
    )
    parser.add_argument("--run", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:  # inside a subprocess
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(run_method(args.run, args.data, args)))
        return

    n, p, t, n_test = SIZES["quick" if args.quick else "full" if args.full else "default"]
    methods = args.methods or (["ours_gcv"] if args.full else list(METHODS))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        if args.full and args.n_targets and args.n_targets < t:
            small, large = max(args.n_targets // 10, 1), args.n_targets
            runs = [bench((n, p, small, n_test), methods, args, workdir)]
            runs.append(bench((n, p, large, n_test), methods, args, workdir))
            print(f"linear extrapolation to t={t} from t={small} and t={large}:")
            for row_small, row_large in zip(*runs):
                for key in ("seconds", "cpu_seconds"):
                    per_target = (row_large[key] - row_small[key]) / (large - small)
                    fixed = row_large[key] - per_target * large
                    estimate = fixed + per_target * t
                    print(f"  {row_large['method']:11s} {key:11s} fixed {fixed:8.1f} + {per_target * 1e3:.3f} ms/target "
                          f"-> {estimate:8.1f} = {estimate / 60:.1f} min at t={t}")  # fmt: skip
            print_table(runs[-1])
        else:
            print_table(bench((n, p, args.n_targets or t, n_test), methods, args, workdir))


if __name__ == "__main__":
    main()
