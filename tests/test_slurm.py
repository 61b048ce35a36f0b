"""The SLURM profile on a real one-node SLURM cluster, through snakemake-executor-plugin-slurm.

Set-up (needs root; installs Debian's slurm-wlm and munge with apt-get when missing, else
skips with the reason): a private munged (own key and socket), slurmctld and slurmd from a
generated /etc/slurm/slurm.conf with one node of this machine's CPUs and a fake GPU. The
config goes to the default path because the plugin's job step drops SLURM_CONF before its
nested srun. The node advertises the profile's largest memory request
(SlurmdParameters=config_overrides): at least this machine's memory; nothing enforces it here.

The project's profile is used as a user would: a copy with the CHANGE_ME placeholders
replaced, plus a layered profile with what this box needs (squeue status, no conda,
2-CPU jobs). A late rule is made to fail through a config value; the fix is rerun; the
outputs are compared with a local run of the same config. A third run reads the data as
`source: nsd` from a bucket served on 127.0.0.1 (the generated dataset's files): the rules
that touch the network run on the submit host, never through sbatch. What SLURM was asked
for (rule, memory, GPUs) is read from SLURM's own job records (squeue). The daemons are
stopped by their pid files and the config removed, also when a step fails.
"""

import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from scipy.io import loadmat

from tests.conftest import ROOT
from tests.http_server import FileServer
from tests.test_workflow_e2e import merged_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PROFILE = ROOT / "workflow/profiles/slurm/config.yaml"
SLURM_ETC = Path("/etc/slurm")
MARKER = "# written by nsdrecon tests/test_slurm.py"
PACKAGES = ["slurm-wlm", "slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = {name: Path("/usr/sbin") / name for name in ("munged", "slurmctld", "slurmd")}
PARTITION, ACCOUNT = "debug", "nsdrecon"
THREADS = min(2, os.cpu_count())  # per job, on SLURM and locally, so torch sums in the same order
BROKEN_CLIP = "./empty-clip-model"  # an empty folder in the workdir: it exists, so the parse-time checks pass;
# evaluate fails on it (no CLIP config inside); nothing upstream reads it


def slurm_config():
    """The e2e test's small config, for one subject and two methods (few SLURM jobs)."""
    cfg = merged_config()
    cfg["subjects"] = ["subj01"]
    cfg["reconstruct"]["methods"] = ["havir", "pixel_ridge"]
    return cfg


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def ensure_packages():
    """Install the SLURM and munge packages with apt-get if needed; the reason they are missing, else None."""
    if all(path.exists() for path in DAEMONS.values()) and shutil.which("sbatch"):
        return None
    if not shutil.which("apt-get"):
        return "slurm-wlm/munge missing and no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = run(install, env=env)
    if result.returncode != 0:
        run(["apt-get", "update", "-q"], env=env)
        result = run(install, env=env)
    if result.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr.strip()[-500:]}"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_slurm_config(state: Path, munge_socket: Path):
    host = socket.gethostname().split(".")[0]
    memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    settings = {
        "ClusterName": "nsdrecontest",
        "SlurmctldHost": f"{host}(127.0.0.1)",
        "SlurmctldPort": free_port(),
        "SlurmdPort": free_port(),
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={munge_socket}",
        "CredType": "cred/munge",
        "MpiDefault": "none",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "JobCompType": "jobcomp/none",
        "SchedulerType": "sched/backfill",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "SlurmdParameters": "config_overrides",
        "ReturnToService": 2,
        "MinJobAge": 3600,  # finished jobs stay visible to squeue, the status command without accounting
        "DefMemPerCPU": 1000,
        "StateSaveLocation": state / "ctld",
        "SlurmdSpoolDir": state / "spool",
        "SlurmctldPidFile": state / "slurmctld.pid",
        "SlurmdPidFile": state / "slurmd.pid",
        "SlurmctldLogFile": state / "slurmctld.log",
        "SlurmdLogFile": state / "slurmd.log",
        "GresTypes": "gpu",
    }
    lines = [MARKER, *(f"{key}={value}" for key, value in settings.items())]
    lines.append(f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory} Gres=gpu:1 State=UNKNOWN")
    lines.append(f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP")
    (SLURM_ETC / "slurm.conf").write_text("\n".join(lines) + "\n")
    # A fake GPU: slurmd needs a device file to count it; jobs only see CUDA_VISIBLE_DEVICES.
    (SLURM_ETC / "gres.conf").write_text(f"{MARKER}\nNodeName={host} Name=gpu File=/dev/null\n")


def start_daemon(cmd, pid_file: Path, started: list):
    """Start a daemon that forks; remember its pid from the pid file for the teardown."""
    output = pid_file.with_suffix(".start.log")
    with output.open("w") as out:  # a file, not a pipe: the forked daemon may keep it open
        returncode = subprocess.call([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT)
    assert returncode == 0, f"{cmd[0]} did not start: {output.read_text()}"
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            started.append((Path(cmd[0]).name, int(pid_file.read_text())))
            return
        time.sleep(0.1)
    raise AssertionError(f"{cmd[0]} wrote no pid file {pid_file}")


def stop(pid: int):
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster with a fake GPU, stopped (by pid) and removed at the end."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the SLURM test needs root on Linux to install and start slurmctld/slurmd/munged")
    missing = ensure_packages()
    if missing:
        pytest.skip(missing)
    existing = SLURM_ETC / "slurm.conf"
    if existing.exists() and MARKER not in existing.read_text():
        pytest.skip(f"{existing} belongs to a real SLURM installation; not touching it")
    state = tmp_path_factory.mktemp("slurm")
    # munged wants every folder above its socket world-executable; pytest's are private
    munge = Path(tempfile.mkdtemp(prefix="nsdrecon-munge-"))
    munge.chmod(0o755)
    key = state / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    started: list = []
    try:
        start_daemon(
            [DAEMONS["munged"], f"--socket={munge / 'socket'}", f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
             f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
            munge / "munged.pid", started,
        )
        SLURM_ETC.mkdir(exist_ok=True)
        write_slurm_config(state, munge / "socket")
        start_daemon([DAEMONS["slurmctld"]], state / "slurmctld.pid", started)
        start_daemon([DAEMONS["slurmd"]], state / "slurmd.pid", started)
        wait_for(lambda: run(["sinfo", "-h", "-o", "%T"]).stdout.strip() == "idle", "the node to become idle")
        yield state
    finally:
        if any(name == "slurmctld" for name, _ in started):
            run(["scancel", f"--partition={PARTITION}"])
            wait_for(lambda: not run(["squeue", "-h", "-t", "running,completing"]).stdout.strip(), "jobs to end", 30)
        for _, pid in reversed(started):
            stop(pid)
        for name in ("slurm.conf", "gres.conf"):
            path = SLURM_ETC / name
            if path.exists() and MARKER in path.read_text():
                path.unlink()
        shutil.rmtree(munge)


def user_profile(folder: Path) -> Path:
    """The project's profile with its placeholders filled in, as the README tells users to."""
    text = PROFILE.read_text()
    text = text.replace("CHANGE_ME_cpu", PARTITION).replace("CHANGE_ME_gpu", PARTITION).replace("CHANGE_ME", ACCOUNT)
    folder.mkdir()
    (folder / "config.yaml").write_text(text)
    return folder


def this_box_profile(folder: Path) -> Path:
    """Layered after the user's profile; each top-level key replaces the user's."""
    threads = yaml.safe_load(PROFILE.read_text())["set-threads"]
    settings = {
        "slurm-status-command": "squeue",  # no slurmdbd accounting here
        "slurm-init-seconds-before-status-checks": 2,
        # No conda on this machine; --sdm has no "none", and env-modules is a no-op
        # because no rule has an envmodules: directive. Rules run in the project venv.
        "software-deployment-method": "env-modules",
        "set-threads": {rule: THREADS for rule in threads},  # the node is this machine
        "retries": 0,  # the deliberately failing jobs fail once
        "latency-wait": 5,
    }
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    return folder


def write_config(workdir: Path, cfg: dict):
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(cfg))


def snakemake(workdir: Path, *args):
    return run(
        [sys.executable, "-m", "snakemake", "--snakefile", ROOT / "Snakefile", *args],
        cwd=workdir, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=1800,  # fail, not hang, if SLURM stalls
    )


@pytest.fixture(scope="module")
def config():
    """Read once: both runs must see the same config, even if config/config.yaml changes meanwhile."""
    return slurm_config()


@pytest.fixture(scope="module")
def slurm_runs(slurm_cluster, config, tmp_path_factory):
    """A run that fails in `evaluate` (bad CLIP folder), its rule logs (the rerun rewrites them),
    the jobs left after the fix, and the rerun."""
    workdir = tmp_path_factory.mktemp("slurm_wf")
    profiles = ["--profile", user_profile(workdir / "profile_user"), "--profile", this_box_profile(workdir / "profile_box")]
    broken = copy.deepcopy(config)
    broken["evaluate"]["clip_id"] = BROKEN_CLIP
    (workdir / BROKEN_CLIP).mkdir()
    broken["evaluate"]["clip_random_init"] = True  # a missing CLIP config is an error (without it: a warning, CLIP left out)
    write_config(workdir, broken)
    started = time.monotonic()
    failed = snakemake(workdir, *profiles, "--keep-going", "--verbose")
    failed_logs = {p.relative_to(workdir).as_posix(): p.read_text() for p in workdir.glob("logs/**/*.log")}
    write_config(workdir, config)
    remaining = planned_jobs(snakemake(workdir, "--dry-run", "--quiet", "rules"))
    fixed = snakemake(workdir, *profiles, "--verbose")
    print(f"SLURM runs (failing + rerun): {time.monotonic() - started:.0f} s")
    return workdir, failed, failed_logs, remaining, fixed


@pytest.fixture(scope="module")
def local_run(config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local_wf")
    write_config(workdir, config)
    # the profile's thread count for the same rules (they declare 1), so torch sums in the same order
    threads = [f"{rule}={THREADS}" for rule in yaml.safe_load(PROFILE.read_text())["set-threads"]]
    result = snakemake(workdir, "--cores", str(THREADS), "--set-threads", *threads)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def planned_jobs(result) -> Counter:
    """Jobs per rule in the "Job stats" table a (dry) run prints before it starts."""
    table = (result.stdout + result.stderr).split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)})


def sbatch_calls(result) -> list[tuple[str, str]]:
    """(rule, sbatch command line) of every job the run submitted."""
    calls = re.findall(r"^sbatch call: (sbatch .*)$", result.stdout + result.stderr, re.M)
    return [(re.search(r"slurm_logs/rule_(\w+)/", call).group(1), call) for call in calls]


def test_failed_job_fails_the_run_and_names_its_slurm_log(slurm_runs):
    workdir, failed, failed_logs, _, _ = slurm_runs
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "SLURM-job" in log and "FAILED" in log
    failures = re.findall(
        r"Error in rule evaluate:.*?\n    log: (\S+), (\S+/slurm_logs/rule_evaluate/\S+\.log)", log, re.S
    )
    assert len(failures) == 1, log[-3000:]
    for rule_log, slurm_log in failures:
        assert "Error in rule evaluate" in (workdir / slurm_log).read_text()  # kept on failure
        assert BROKEN_CLIP in failed_logs[rule_log]  # the script's own error


def test_rerun_after_fix_runs_only_the_remaining_jobs(slurm_runs):
    _, failed, _, remaining, fixed = slurm_runs
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-3000:]
    assert remaining["evaluate"] == 1 and remaining["metrics_table"] == 1
    upstream = {"generate_synthetic_nsd", "masks", "betas", "stimulus_features", "train_decoder", "reconstruct_havir"}
    done_before = Counter(rule for rule, _ in sbatch_calls(failed)) - Counter(evaluate=1)
    assert upstream <= set(done_before) and not set(remaining) & set(done_before)
    local_rules = set(re.findall(r"^localrule (\w+):", fixed.stdout + fixed.stderr, re.M))
    submitted = Counter(rule for rule, _ in sbatch_calls(fixed))
    assert submitted == Counter({rule: n for rule, n in remaining.items() if rule not in local_rules})


def test_jobs_go_through_sbatch_and_gpu_rules_ask_for_a_gpu(slurm_runs):
    _, failed, _, _, fixed = slurm_runs
    gpu_rules = set(yaml.safe_load(PROFILE.read_text())["set-resources"])  # the rules sent to the GPU partition
    calls = sbatch_calls(failed) + sbatch_calls(fixed)
    assert {rule for rule, _ in calls} >= {"stimulus_features", "train_decoder", "reconstruct_havir", "evaluate", "masks"}
    for rule, call in calls:
        asks_gpu = "--gpus=1" in call or "--gres=gpu:1" in call
        assert asks_gpu == (rule in gpu_rules), call
        assert f"-p {PARTITION}" in call and f"-A {ACCOUNT}" in call


H5_OUTPUTS = ["results/**/*.h5"]
TSV_OUTPUTS = ["results/**/*.tsv"]
EXACT_OUTPUTS = ["resources/synthetic_nsd/**/*.*", "results/subj01/masks/*", "results/subj01/betas.nc"]


def h5_arrays(path: Path) -> dict:
    arrays = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def matching(workdir: Path, patterns: list[str]) -> list[Path]:
    return sorted(p.relative_to(workdir) for pattern in patterns for p in workdir.glob(pattern) if p.is_file())


def test_outputs_equal_the_local_run(slurm_runs, local_run):
    """Data stages byte for byte; model stages (torch, other process layout) to float tolerance."""
    slurm, local = slurm_runs[0], local_run
    exact = matching(local, EXACT_OUTPUTS)
    assert len(exact) > 20 and matching(slurm, EXACT_OUTPUTS) == exact
    for path in exact:
        if path.suffix == ".mat":  # the MATLAB header holds the creation time
            ours, theirs = (loadmat(run / path, simplify_cells=True) for run in (slurm, local))
            for key in theirs.keys() - {"__header__"}:
                np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{path}:{key}")
        else:
            assert (slurm / path).read_bytes() == (local / path).read_bytes(), path
    h5_files = matching(local, H5_OUTPUTS)
    assert len(h5_files) >= 5 and matching(slurm, H5_OUTPUTS) == h5_files
    for path in h5_files:
        ours, theirs = h5_arrays(slurm / path), h5_arrays(local / path)
        assert ours.keys() == theirs.keys(), path
        for name, array in theirs.items():
            if np.issubdtype(array.dtype, np.floating):
                np.testing.assert_allclose(ours[name], array, rtol=1e-4, atol=1e-5, err_msg=f"{path}:{name}")
            elif array.dtype == np.uint8:  # images: rounding of nearly equal floats may move a pixel by one
                assert np.abs(ours[name].astype(int) - array).max() <= 1, f"{path}:{name}"
            else:
                np.testing.assert_array_equal(ours[name], array, err_msg=f"{path}:{name}")
    tables = matching(local, TSV_OUTPUTS)
    assert len(tables) >= 5 and matching(slurm, TSV_OUTPUTS) == tables
    for path in tables:
        pd.testing.assert_frame_equal(
            pd.read_csv(slurm / path, sep="\t"), pd.read_csv(local / path, sep="\t"), rtol=1e-4, atol=1e-5, obj=str(path)
        )


def slurm_jobs() -> dict[str, tuple[str, int]]:
    """Job id -> (rule, requested memory in MB) of every job SLURM knows, finished ones included (MinJobAge)."""
    jobs = {}
    for line in run(["squeue", "-h", "-t", "all", "-o", "%i|%k|%m"]).stdout.split():
        job_id, comment, memory = line.split("|")
        value, unit = float(memory[:-1]), memory[-1]
        jobs[job_id] = (re.match(r"rule_([a-z_]+?)(?:_wildcards_|$)", comment)[1], int(value * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 2**20}[unit]))
    return jobs


def test_the_tiny_default_asks_for_tiny_memory(slurm_runs):
    """Each rule sizes its memory from its inputs: the small config's jobs ask for a few GB, not NSD's tens."""
    jobs = slurm_jobs().values()
    assert {"stimulus_features", "train_decoder", "reconstruct_havir", "evaluate", "betas"} <= {rule for rule, _ in jobs}
    assert max(memory for _, memory in jobs) <= 4000, sorted(jobs, key=lambda job: -job[1])[:5]


NETWORK_TARGETS = ["results/subj01/stimuli.h5", "results/subj01/betas.nc"]


def nsd_like_config() -> dict:
    """The small config with NSD's 750 trials per session (what `source: nsd` assumes; 500 images x 3 = 2
    sessions), of which one is used."""
    cfg = copy.deepcopy(slurm_config())
    cfg["synthetic"].update(n_images_per_subject=500, trials_per_session=750)
    cfg["betas"]["sessions"] = 1
    return cfg


@pytest.fixture(scope="module")
def network_run(slurm_cluster, tmp_path_factory):
    """A generated dataset and a local run of the network targets from it (`source: synthetic`); then the same
    targets through SLURM with `source: nsd`, its bucket that dataset served on 127.0.0.1. Returns both
    workdirs, the SLURM job ids submitted before the SLURM run, and that run."""
    reference = tmp_path_factory.mktemp("nsd_reference")
    write_config(reference, nsd_like_config())
    local = snakemake(reference, "--cores", str(THREADS), *NETWORK_TARGETS)
    assert local.returncode == 0, local.stderr[-3000:]
    generated = reference / "resources/synthetic_nsd"
    bucket = {p.relative_to(generated).as_posix(): p.read_bytes() for p in generated.rglob("*") if p.is_file()}
    workdir = tmp_path_factory.mktemp("slurm_nsd")
    before = set(slurm_jobs())
    with FileServer(bucket) as server:
        write_config(workdir, {**nsd_like_config(), "source": "nsd", "nsd_root": "nsd", "nsd_url": server.url})
        profiles = ["--profile", user_profile(workdir / "profile_user"), "--profile", this_box_profile(workdir / "profile_box")]
        result = snakemake(workdir, *profiles, "--verbose", *NETWORK_TARGETS)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return workdir, reference, before


def test_rules_touching_the_network_never_go_to_slurm(network_run):
    workdir, reference, before = network_run
    submitted = Counter(rule for job_id, (rule, _) in slurm_jobs().items() if job_id not in before)
    assert submitted == Counter(masks=1, betas=1)  # downloads and the stimulus subset ran on this host
    assert len(list((workdir / "logs/download_nsd").rglob("*.json"))) >= 6  # one record per fetched key
    with h5py.File(workdir / NETWORK_TARGETS[0]) as ours, h5py.File(reference / NETWORK_TARGETS[0]) as theirs:
        np.testing.assert_array_equal(ours["imgBrick"][()], theirs["imgBrick"][()])
    with xr.open_dataset(workdir / NETWORK_TARGETS[1]) as ours, xr.open_dataset(reference / NETWORK_TARGETS[1]) as theirs:
        xr.testing.assert_equal(ours, theirs)
