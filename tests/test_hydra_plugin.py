"""The Hydra Sweeper plugin end to end: `python app.py --multirun` with `hydra/sweeper: sweeper`.

hydra-optuna-sweeper's three examples run as they are (only the sweeper line of their configs
changed; vendored in hydra_apps/optuna_examples); an app of ours (hydra_apps/groups) sweeps a config
group, reads HydraConfig, crashes on demand, reports for early stopping and holds jobs at a gate for
the Ctrl-C test. Every run is a real multirun in a subprocess with its own study and MLflow store.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from helpers import TESTS, wait_for

APPS = TESTS / "hydra_apps"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch copy of the test apps, its own study store and MLflow store."""
    shutil.copytree(APPS / "optuna_examples", tmp_path, dirs_exist_ok=True)
    shutil.copytree(APPS / "groups", tmp_path / "groups")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def multirun(folder: Path, script: str, *overrides: str, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SWEEPER_REPORT": "0", **(env or {})}
    full.pop("PYTHONPATH", None)
    p = subprocess.run([sys.executable, script, "--multirun", *overrides], cwd=folder, env=full,
                       capture_output=True, text=True, timeout=240)
    if check and p.returncode != 0:
        raise AssertionError(f"{script} --multirun exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def study(folder: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/.sweeps/sweeps.db")


def runs(folder: Path, name: str) -> tuple[list, list]:
    """(parent runs, trial runs) of MLflow experiment `name`."""
    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    rs = client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)
    return ([r for r in rs if "mlflow.parentRunId" not in r.data.tags],
            [r for r in rs if "mlflow.parentRunId" in r.data.tags])


def job_dirs(folder: Path, base: str = "multirun") -> list[Path]:
    return sorted(p.parent.parent for p in (folder / base).glob("**/.hydra/overrides.yaml"))


def results(folder: Path, base: str = "multirun") -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in (folder / base).glob("**/optimization_results.yaml")]


def test_sphere_runs_as_hydra_jobs_writes_results_and_a_rerun_runs_nothing_twice(app):
    multirun(app, "sphere.py", "hydra.sweeper.n_trials=6")
    st = study(app, "sphere")  # study_name names the sweep
    trials = st.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    for t in trials:
        x, y = t.params["x"], t.params["y"]
        # the Optuna plugin's range(-5.5, 5.5, step=0.5) includes its end point
        assert -5.5 <= x <= 5.5 and (x * 2).is_integer() and y in (-5, 0, 5)
        assert t.value == x ** 2 + y ** 2
    jobs = job_dirs(app)
    assert len(jobs) == 6
    for job in jobs:  # a real Hydra job: its folder, .hydra files, the job's log, the trial's params
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        number = int(job.name)
        assert (cfg["x"], cfg["y"]) == (trials[number].params["x"], trials[number].params["y"])
        assert (job / "sphere.log").exists()
    (res,) = results(app)
    best = min(trials, key=lambda t: t.value)
    assert res["best_value"] == best.value and res["best_params"] == best.params
    parents, kids = runs(app, "sphere")
    assert len(parents) == 1 and len(kids) == 6

    multirun(app, "sphere.py", "hydra.sweeper.n_trials=6")  # the same command again: nothing to run
    assert len(study(app, "sphere").get_trials()) == 6 and len(job_dirs(app)) == 6
    parents, kids = runs(app, "sphere")
    assert len(parents) == 1 and len(kids) == 6
