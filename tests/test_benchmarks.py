"""The benchmark scripts keep running (``--quick``: tiny sizes, seconds) and their methods agree.

Timings are printed, never checked: what fails here is a script that no longer
runs, or methods that no longer compute the same thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "workflow" / "benchmarks"


# One thread per process, as the in-process tests run torch (torch.set_num_threads(1)): the quick sizes are
# too small to gain from a second thread, and on a 2-core machine with any other load OpenMP's spinning threads
# made bench_diffusion --quick 2-4x slower (measured: 13 s with 1 thread, 26-47 s with 2).
ONE_THREAD = {var: "1" for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def run_quick(script: str, *args: str, tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, **ONE_THREAD},
    )  # fmt: skip
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def test_bench_betas_methods_extract_the_same_values(tmp_path):
    out = run_quick("bench_betas.py", "--folder", str(tmp_path / "data"), tmp_path=tmp_path)
    # the script exits non-zero when the methods' checksums differ; it prints ratios only when they agree
    assert "ratios to ours_hdf5" in out
    for method in ("ours_hdf5", "peers_nifti"):
        assert method in out


def test_bench_ridge_ours_matches_sklearn(tmp_path):
    out = run_quick("bench_ridge.py", "--workdir", str(tmp_path), "--threads", "1", tmp_path=tmp_path)
    table = out[out.index("method ") :].splitlines()
    header = table[0].split()
    rows = {line.split()[0]: dict(zip(header[1:], map(float, line.split()[1:]))) for line in table[1:]}
    assert set(rows) == {"ours_kfold", "ours_gcv", "sklearn", "himalaya"}
    assert rows["sklearn"]["max_rel_diff_vs_ours_kfold"] < 1e-4
    assert rows["himalaya"]["max_rel_diff_vs_ours_kfold"] < 1e-4
    assert all(row["seconds"] > 0 and row["peak_rss_gb"] > 0 for row in rows.values())


@pytest.mark.slow  # runs HAVIR and MindDiffuser stages 1 and 2 end to end (tiny models); test_golden covers them fast
def test_bench_diffusion_reports_every_method(tmp_path):
    lines = [json.loads(line) for line in run_quick("bench_diffusion.py", "--no-flops", tmp_path=tmp_path).splitlines()]
    assert lines[0]["models"] == "tiny"
    by_method: dict[str, list[dict]] = {}
    for row in lines[1:]:
        by_method.setdefault(row["method"], []).append(row)
    assert set(by_method) == {"havir", "minddiffuser-stage1", "minddiffuser-stage2", "minddiffuser-stage2-variants"}
    for method in ("havir", "minddiffuser-stage1", "minddiffuser-stage2"):
        (row,) = by_method[method]
        assert row["s_per_image_ours"] > 0 and row["s_per_image_plain"] > 0
    variants = {row["variant"]: row for row in by_method["minddiffuser-stage2-variants"]}
    assert set(variants) == {"exact", "inner_steps=2"}
    for row in variants.values():
        assert 0 < row["loss_final_image"] < float("inf") and row["s_per_image"] > 0
    # the exact variant's in-loop schedule is the final one, so its last in-loop loss is the final image's loss
    assert variants["exact"]["loss_in_loop_last"] == pytest.approx(variants["exact"]["loss_final_image"], rel=1e-3)
