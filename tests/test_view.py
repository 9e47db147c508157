"""The way out of a sweep: `sweep report` (one offline HTML file) and `sweep best --register` (the best
trial's own model into MLflow's Model Registry, under an alias), the registry on a real `mlflow server`."""

from __future__ import annotations

import re

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
  function: objectives:FN
n_trials: 2
workers: 1
seed: 5
"""


def one_line_error(p, *words: str) -> None:
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.slow
def test_report_and_register_the_best_trials_model(workdir, mlflow_server):
    write(workdir / "sweep.yaml", SWEEP.replace("NAME", "reg").replace("FN", "logs_a_model")
          + f"tracking: {{uri: {mlflow_server}}}\n")
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    study = optuna.load_study(study_name="reg", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    best = study.best_trial

    p = run_cli(["report", "reg", "-o", "out/r.html"], workdir)
    one_line_error(p, "-o", "does not exist")
    assert not (workdir / "out").exists()
    p = run_cli(["report", "reg", "-o", "r.html"], workdir, check=True)
    html = (workdir / "r.html").read_text()
    assert len(html) > 20000 and html.count("plotly.js v") >= 1
    assert not re.search(r"<script[^>]+src=[\"']https?:", html)  # opens offline
    assert "wrote " in p.stdout and not list(workdir.glob(".sweep-report-*"))  # no scratch left behind

    p = run_cli(["best", "reg", "--register", "reg-model", "--alias", "v1"], workdir)
    one_line_error(p, "--alias", "reserved")
    p = run_cli(["best", "reg", "--register", "reg-model"], workdir, check=True)
    assert "registered reg-model version 1 (alias 'best')" in p.stdout
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    version = client.get_model_version_by_alias("reg-model", "best")
    runs = client.search_runs([client.get_experiment_by_name("reg").experiment_id],
                              filter_string=f"tags.`trial.number` = '{best.number}'")
    assert int(version.version) == 1 and version.run_id == runs[0].info.run_id
    # a second registration is a new version, and the alias follows it
    run_cli(["best", "reg", "--register", "reg-model", "--alias", "champion"], workdir, check=True)
    assert int(client.get_model_version_by_alias("reg-model", "champion").version) == 2
    assert int(client.get_model_version_by_alias("reg-model", "best").version) == 1


@pytest.mark.slow
def test_register_refuses_clearly_when_the_best_trial_logged_no_model(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("NAME", "nomodel").replace("FN", "trivial"))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    p = run_cli(["best", "nomodel", "--register", "m"], workdir)
    one_line_error(p, "logged no model", "log_model")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    assert client.search_registered_models() == []  # refused: nothing created
