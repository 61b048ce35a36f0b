"""The workflow through ``snakemake.api``, in the test's process: what Snakemake would run, read as data.

``plan()`` builds the DAG (nothing runs) and returns

* ``jobs``: the number of jobs of each rule, from the DAG's D3 JSON (``--d3dag``: one node per job);
* ``files``: the per-output-file summary (``--summary``'s TSV: output_file, date, rule, log-file(s),
  status, plan), where ``plan`` is "update pending" for the outputs of jobs a run would execute.

``run()`` runs the workflow (or dry-runs or touches it, as ``-n`` and ``--touch``). Errors raise as
exceptions carrying the messages the command line prints (a config check's ``ConfigError``, a schema
violation's ``WorkflowError``). In process, each call costs a fraction of a second once Snakemake and
nsdrecon are imported, against 2-4 s for a ``python -m snakemake`` subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pandas as pd
from snakemake.api import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, SnakemakeApi
from snakemake.settings.enums import Quietness

from tests.conftest import ROOT


@contextlib.contextmanager
def _workflow(workdir: Path, configfiles: Sequence[Path], config: Mapping | None):
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        yield api.workflow(
            snakefile=ROOT / "Snakefile",
            workdir=Path(workdir),
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=list(configfiles), config=dict(config or {})),
        )


def plan(
    workdir: Path,
    configfiles: Sequence[Path] = (),
    config: Mapping | None = None,
    forcerun: Collection[str] = (),
) -> tuple[Counter, pd.DataFrame]:
    """Jobs per rule and the summary table of the default target in ``workdir`` (``forcerun``: rules to redo)."""
    d3dag, summary = io.StringIO(), io.StringIO()
    with _workflow(workdir, configfiles, config) as workflow:
        dag = workflow.dag(DAGSettings(forcerun=frozenset(forcerun)))
        with contextlib.redirect_stdout(d3dag):
            dag.printd3dag()
        with contextlib.redirect_stdout(summary):
            dag.summary()
    jobs = Counter(node["value"]["rule"] for node in json.loads(d3dag.getvalue())["nodes"])
    return jobs, pd.read_csv(io.StringIO(summary.getvalue()), sep="\t")


def pending(files: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows of the outputs a run would (re)create."""
    return files[files["plan"] == "update pending"]


def run(
    workdir: Path,
    configfiles: Sequence[Path] = (),
    config: Mapping | None = None,
    pseudo_executor: str | None = None,
) -> None:
    """Run the default target in ``workdir`` with the local executor; ``pseudo_executor``: "dryrun" or "touch"."""
    with _workflow(workdir, configfiles, config) as workflow:
        workflow.dag(DAGSettings()).execute_workflow(executor="local", pseudo_executor=pseudo_executor)
