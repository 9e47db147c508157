"""Trials that log to MLflow themselves (`mlflow.start_run()`, as every MLflow tutorial does) land in
their own trial run, with several workers on the embedded SQLite store (whose creation they once
raced) and on a real MLflow server, for function trials in reused workers and command trials."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from helpers import run_cli, write

SWEEP = """
name: NAME
objective: {metric: loss, goal: minimize}
params:
  x: interval(-2.0, 3.0)
trial:
  TRIAL
n_trials: N
workers: 2
seed: 3
"""

COMMAND_SCRIPT = """
import sys

import mlflow

x = float(sys.argv[1].split("=")[1])
with mlflow.start_run():
    mlflow.log_metric("own_metric", x)
print("SWEEPER_RESULT", '{"loss": %r}' % ((x - 1.0) ** 2))
"""


def runs_by_kind(uri: str, name: str) -> tuple[list, dict[int, object]]:
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    kids = {int(r.data.tags["trial.number"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(kids) == len([r for r in runs if "mlflow.parentRunId" in r.data.tags]), "a trial with two runs"
    return parents, kids


def check_own_runs(workdir, uri: str, name: str, n: int, study_url: str) -> None:
    parents, kids = runs_by_kind(uri, name)
    assert len(parents) == 1, f"{len(parents)} top-level runs: a trial's own start_run made a run of its own"
    assert sorted(kids) == list(range(n))
    study = optuna.load_study(study_name=name, storage=study_url)
    for t in study.trials:
        k = kids[t.number]
        assert t.state.name == "COMPLETE"
        assert k.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert k.info.status == "FINISHED" and k.data.tags["trial.state"] == "COMPLETE"
        assert k.data.metrics["own_metric"] is not None and "loss" in k.data.metrics
        assert float(k.data.params["x"]) == t.params["x"]


@pytest.mark.slow
def test_function_trials_logging_themselves_land_in_their_runs_with_two_workers(workdir):
    text = SWEEP.replace("NAME", "own").replace("TRIAL", "function: objectives:logs_itself").replace("N", "6")
    write(workdir / "sweep.yaml", text)
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    uri = f"sqlite:///{workdir}/mlflow.db"
    check_own_runs(workdir, uri, "own", 6, f"sqlite:///{workdir}/.sweeps/sweeps.db")
    _, kids = runs_by_kind(uri, "own")
    client = mlflow.MlflowClient(tracking_uri=uri)
    for k in kids.values():
        hist = client.get_metric_history(k.info.run_id, "own_metric")
        assert [m.step for m in sorted(hist, key=lambda m: m.step)] == [0, 1, 2]
        assert "own.txt" in {a.path for a in client.list_artifacts(k.info.run_id)}
        assert k.data.metrics["params_while_running"] == 1.0


@pytest.mark.slow
def test_a_run_left_open_does_not_swallow_the_next_trial_of_its_worker(workdir, mlflow_server):
    text = SWEEP.replace("NAME", "open").replace("TRIAL", "function: objectives:leaves_run_open").replace("N", "6")
    write(workdir / "sweep.yaml", text.replace("workers: 2", "workers: 1") + f"tracking: {{uri: {mlflow_server}}}\n")
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    check_own_runs(workdir, mlflow_server, "open", 6, f"sqlite:///{workdir}/.sweeps/sweeps.db")
    _, kids = runs_by_kind(mlflow_server, "open")
    pids = {k.data.tags["worker.pid"] for k in kids.values()}
    assert len(pids) == 1  # one reused worker ran them all, each in its own run
    study = optuna.load_study(study_name="open", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    for number, k in kids.items():
        assert k.data.metrics["own_metric"] == study.trials[number].params["x"]


@pytest.mark.slow
def test_command_trials_logging_themselves_land_in_their_runs(workdir, mlflow_server):
    write(workdir / "train.py", COMMAND_SCRIPT)
    text = SWEEP.replace("NAME", "owncmd").replace("TRIAL", "command: python train.py").replace("N", "4")
    write(workdir / "sweep.yaml", text + f"tracking: {{uri: {mlflow_server}}}\n")  # a real MLflow server
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    check_own_runs(workdir, mlflow_server, "owncmd", 4, f"sqlite:///{workdir}/.sweeps/sweeps.db")
