"""The workflow's static checks: format, lint, schema validation, dry runs of both worlds."""

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN
from tests.snakemake_plan import plan, run


def snakemake(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True
    )


def test_snakefmt_clean():
    r = subprocess.run([VENV_BIN / "snakefmt", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_lint_clean():
    r = snakemake("--lint")
    assert r.returncode == 0, r.stdout + r.stderr


def test_real_nsd_dag_builds_without_data():
    """The DAG of config/nsd.yaml, built without any data; jobs per rule and output files read through snakemake.api."""
    counts, files = plan(ROOT, configfiles=[ROOT / "config/nsd.yaml"])
    assert counts["masks"] == 4 and counts["betas"] == 4
    assert counts["train_decoder"] == 8  # 4 subjects x 2 streams
    assert counts["reconstruct_havir"] == 20  # 4 subjects x (HAVIR, 3 ablations, oracle)
    assert counts["havir_oracle_inputs"] == counts["minddiffuser_oracle_inputs"] == 4
    assert counts["minddiffuser_features"] == 1 and counts["train_minddiffuser_decoder"] == 4
    assert counts["reconstruct_minddiffuser"] == 12  # 4 subjects x (both stages, stage 1 only, oracle)
    assert counts["evaluate"] == 4  # one job per subject: the metric networks load once for all its methods
    # 37 sessions x 4 subjects of betas, plus ROI files, label tables, design, stimuli
    assert counts["download_nsd"] > 37 * 4
    assert set(files["rule"]) == set(counts) - {"all"}  # the summary lists the outputs of the same jobs
    # stimuli: subset -> each subject's seen images by range reads; the 40 GB imgBrick is never downloaded
    # (no job writes it, and with no data here an input no job writes would have stopped the DAG)
    assert counts["subset_stimuli"] == 4 and counts["subject_captions"] == 4
    assert not files["output_file"].str.contains("nsd_stimuli.hdf5", regex=False).any()
    assert "generate_synthetic_nsd" not in counts


@pytest.mark.parametrize(
    ("name", "n_subjects", "modality"), [("things_eeg", 10, "eeg"), ("things_meg", 4, "meg")]
)
def test_things_dags_build_without_data(name, n_subjects, modality):
    """The DAGs of config/things_eeg.yaml and things_meg.yaml, built without data through snakemake.api."""
    counts, files = plan(ROOT, configfiles=[ROOT / f"config/{name}.yaml"])
    for rule in ("meeg_responses", "temporal_decoding", "figure_topographies", "evaluate", "reconstruct_pixel_ridge"):
        assert counts[rule] == n_subjects, rule
    assert counts["train_decoder"] == 2 * n_subjects and counts["train_minddiffuser_decoder"] == n_subjects
    assert counts["reconstruct_havir"] == 5 * n_subjects and counts["reconstruct_minddiffuser"] == 3 * n_subjects
    assert counts["stimulus_features"] == counts["minddiffuser_features"] == counts["figure_temporal"] == 1
    # every subject's data files (EEG: one archive each and the image set's 3 files; MEG: 4 epochs files and
    # the sample attributes each)
    if modality == "eeg":
        assert counts["download_eeg_subject"] == n_subjects and counts["download_osf"] == 3
    else:
        assert counts["download_things"] == 5 * n_subjects
    assert not {"masks", "betas", "download_nsd", "subset_stimuli", "voxel_weights"} & set(counts)
    assert set(files["rule"]) == set(counts) - {"all"}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"betas": {"zscore": "per-run"}}, "per-run"),
        ({"reconstruct": {"strenght": 0.5}}, "strenght"),
        ({"subjects": ["subj09"]}, "subj09"),
    ],
)
def test_bad_config_value_is_named(workdir, patch, message):
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    for section, values in patch.items():
        if isinstance(values, dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(Exception, match=re.escape(message)):  # a dry run, in this process (seconds less per test)
        run(workdir, pseudo_executor="dryrun")


def _set(path: tuple[str, ...], value):
    """A config edit: set the value at a key path."""

    def edit(cfg):
        *parents, last = path
        for key in parents:
            cfg = cfg[key]
        cfg[last] = value

    return edit


TYPOS = [
    (_set(("masks", "structural", "prf-visualrois"), ["V1v", "V4"]), "masks.structural.prf-visualrois: unknown label(s) ['V4']"),
    (_set(("masks", "semantic", "floc-face"), "all"), "masks.semantic: no ROI file 'floc-face'"),
    (_set(("masks", "semantic", "../floc-faces"), "all"), "masks.semantic: ROI file name '../floc-faces' has characters"),
    (_set(("betas", "sessions"), 6), "betas.sessions: 6 sessions, but {'subj01': 4, 'subj02': 4} have fewer"),
    (_set(("models", "diffusion", "id"), "resources/models/tiny-versatile-difusion"),
     "models.diffusion.id: model folder 'resources/models/tiny-versatile-difusion' not found"),
    (_set(("minddiffuser", "context_tokens"), 10), "minddiffuser: Value error, context_tokens (10) must be at least text_tokens (15)"),
]


@pytest.mark.parametrize("edit, message", TYPOS)
def test_config_typo_fails_before_any_job_and_deletes_nothing(workdir, edit, message):
    """Values the schema accepts but the data or models cannot serve stop a real (not dry) run at parse time."""
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    edit(cfg)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    finished = workdir / "results/subj01/masks/structural.nii.gz"
    finished.parent.mkdir(parents=True)
    finished.write_bytes(b"a finished output")
    with pytest.raises(Exception, match=re.escape(message)):  # a real run, in this process
        run(workdir)
    assert finished.read_bytes() == b"a finished output"
    assert not (workdir / "resources").exists()  # no job ran (the first one generates the dataset)


def test_cuda_without_a_gpu_fails_before_any_job(workdir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device cuda is valid here")
    with pytest.raises(Exception, match=re.escape("models.device: 'cuda', but torch sees no CUDA device")):
        run(workdir, config={"models": {"device": "cuda"}})
    assert not (workdir / "resources").exists() and not (workdir / "results").exists()


def test_real_nsd_refuses_the_synthetic_datasets_folder(tmp_path):
    """Switching source to nsd on the folder the embedded default generated must fail, not read synthetic files as NSD."""
    root = tmp_path / "synthetic_nsd"
    root.mkdir()
    (root / "synthetic_truth.h5").write_bytes(b"")
    nsd = {"configfiles": [ROOT / "config/nsd.yaml"], "config": {"nsd_root": str(root)}}
    with pytest.raises(Exception, match=re.escape(f"nsd_root '{root}' holds the generated synthetic dataset (synthetic_truth.h5)")):
        run(ROOT, pseudo_executor="dryrun", **nsd)
    (root / "synthetic_truth.h5").unlink()
    counts, _ = plan(ROOT, **nsd)  # raises if refused
    assert counts["download_nsd"] > 0


def test_rule_scripts_import_package_without_installation():
    """Snakemake's script preamble appends the script's folder to sys.path; that alone must find nsdrecon."""
    code = (
        "import sys; sys.path.append(sys.argv[1]); import nsdrecon.layout as l; "
        "print(l.__file__); print(l.betas('subj01', 1))"
    )
    r = subprocess.run(
        [sys.executable, "-S", "-c", code, str(ROOT / "workflow/scripts")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    path, key = r.stdout.split()
    assert "site-packages" not in path and path.startswith(str(ROOT / "workflow/scripts"))
    assert key.endswith("betas_fithrf_GLMdenoise_RR/betas_session01.hdf5")


def test_gpu_rules_ask_for_a_gpu_in_both_profiles():
    """Rules declaring `gpu=use_gpu()` go to SLURM's GPU partition; the local profile has a pool of one GPU."""
    rule_blocks = re.split(r"^\s*rule (\w+):", "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")), flags=re.M)
    gpu_rules = {name for name, body in zip(rule_blocks[1::2], rule_blocks[2::2]) if "gpu=use_gpu()" in body}
    assert {"stimulus_features", "train_decoder", "train_minddiffuser_decoder", "reconstruct_havir", "evaluate"} <= gpu_rules
    slurm = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())
    on_gpu_partition = {rule for rule, r in slurm["set-resources"].items() if r.get("slurm_partition") == "CHANGE_ME_gpu"}
    assert on_gpu_partition == gpu_rules
    assert slurm["software-deployment-method"] == "conda" and slurm["executor"] == "slurm"
    local = yaml.safe_load((ROOT / "workflow/profiles/local_gpu/config.yaml").read_text())
    assert local["resources"] == {"gpu": 1}
    assert gpu_rules <= set(slurm["set-threads"]) and gpu_rules <= set(local["set-threads"])  # torch uses them
