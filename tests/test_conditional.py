"""Conditional parameters end to end: `sweep launch` of a YAML sweep whose params exist only under
conditions, by grid (valid combinations only, each once) and by TPE (define-by-run); each trial's
config, its study params and its MLflow run hold exactly its active params."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from helpers import run_cli, write

SWEEP = """
name: NAME
objective: {metric: loss}
params:
  optimizer: choice(sgd, adam)
  momentum: {when: optimizer=sgd, sweep: "choice(0.5, 0.9)"}
  beta2: {when: optimizer=adam, sweep: "choice(0.99, 0.999)"}
  arch: choice(resnet, vit)
  net.depth: {when: arch=resnet, sweep: "range(18, 51, 16)"}
  net.patch: {when: arch=vit, sweep: 16}
  net.width: 64
trial: {function: objectives:conditional}
search: {method: METHOD}
n_trials: N
workers: 2
seed: 0
"""


@pytest.mark.parametrize("method, n", [("grid", 16), ("tpe", 12)])
def test_conditional_parameters_exist_only_where_their_conditions_hold(workdir, method, n):
    name = f"cond-{method}"
    write(workdir / "sweep.yaml", SWEEP.replace("NAME", name).replace("METHOD", method).replace("N", str(n)))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    trials = study.trials
    assert len(trials) == n and all(t.state.name == "COMPLETE" for t in trials)  # the trial asserts its config
    for t in trials:
        p = t.params
        assert ("momentum" in p) == (p["optimizer"] == "sgd") and ("beta2" in p) == (p["optimizer"] == "adam")
        assert ("net.depth" in p) == (p["arch"] == "resnet")
    if method == "grid":  # (sgd x 2 momenta + adam x 2 beta2) x (resnet x 3 depths + vit) = 16, each once
        points = {tuple(sorted(t.params.items())) for t in trials}
        assert len(points) == 16
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name(name).experiment_id
    kids = [r for r in client.search_runs([exp], max_results=100) if "mlflow.parentRunId" in r.data.tags]
    assert len(kids) == n
    for k in kids:
        params = k.data.params
        assert ("momentum" in params) == (params["optimizer"] == "sgd") and ("beta2" in params) == (params["optimizer"] == "adam")
        assert ("net.patch" in params) == (params["arch"] == "vit") and params["net.width"] == "64"
    assert any("momentum" in k.data.params for k in kids) and any("beta2" in k.data.params for k in kids)


@pytest.mark.parametrize("when, says", [("optimiser=sgd", "names 'optimiser', which is not another parameter"),
                                        ("optimizer=rmsprop", "optimizer never takes 'rmsprop'")])
def test_a_bad_condition_is_one_line_and_creates_nothing(workdir, when, says):
    text = SWEEP.replace("NAME", "badcond").replace("METHOD", "tpe").replace("N", "4")
    write(workdir / "sweep.yaml", text.replace("when: optimizer=sgd", f"when: {when}"))
    p = run_cli(["launch", "sweep.yaml"], workdir)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "params.momentum.when" in lines[0] and says in lines[0], p.stderr
    assert not (workdir / ".sweeps").exists() and not (workdir / "mlflow.db").exists()
