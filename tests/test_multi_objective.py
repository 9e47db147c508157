"""Several objectives and constraints through `sweep launch`: the study gets both directions, the
samplers the constraints, `sweep best` prints the feasible Pareto front (exactly the study's), every
trial's run carries both metrics, and what cannot work with several objectives is refused."""

from __future__ import annotations

import json

import mlflow
import optuna
import pytest
from helpers import run_cli, write

SWEEP = """
name: NAME
objective:
  - {metric: f1, goal: minimize}
  - {metric: f2, goal: minimize}
constraints: ["f1 <= 50"]
params:
  x: interval(0.0, 5.0)
  y: interval(0.0, 3.0)
trial: {function: objectives:binh_korn}
search: {method: METHOD}
n_trials: 24
workers: 2
seed: 1
"""


def _dominated(t, others) -> bool:
    return any(o.values[0] <= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in others)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nsgaii", "tpe"])
def test_two_objectives_with_a_constraint_give_the_feasible_front(workdir, method):
    name = f"mo-{method}"
    write(workdir / "sweep.yaml", SWEEP.replace("NAME", name).replace("METHOD", method))
    report = {"SWEEPER_REPORT": "1"} if method == "nsgaii" else {}  # once: the report and front.csv on the parent
    launched = run_cli(["launch", "sweep.yaml"], workdir, env=report, check=True).stdout
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"] and study.metric_names == ["f1", "f2"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 24 and all(len(t.values) == 2 for t in done)
    # the samplers see the constraint: every trial carries its violation (<= 0: feasible)
    assert all(t.constraints == {"f1 <= 50": pytest.approx(t.values[0] - 50)} for t in done)
    feasible = [t for t in done if t.values[0] <= 50]
    assert feasible and len(feasible) < 24  # the space holds both kinds (f1 reaches 136)
    want = {t.number for t in feasible if not _dominated(t, feasible)}
    front = json.loads(run_cli(["best", name, "--json"], workdir, check=True).stdout)
    assert {e["trial"] for e in front} == want
    kids = {}
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    for r in client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=100):
        if "mlflow.parentRunId" in r.data.tags:
            kids[int(r.data.tags["trial.number"])] = r
    for e in front:
        t = study.trials[e["trial"]]
        assert e["values"] == {"f1": t.values[0], "f2": t.values[1]} and e["params"] == t.params
        assert e["run_id"] == kids[t.number].info.run_id
    assert sorted(kids) == list(range(24)) and all({"f1", "f2"} <= set(k.data.metrics) for k in kids.values())
    infeasible = [t.number for t in done if t.values[0] > 50]
    assert all(kids[n].data.tags.get("trial.feasible") == "false" for n in infeasible)
    parent = [r for r in client.search_runs([client.get_experiment_by_name(name).experiment_id])
              if "mlflow.parentRunId" not in r.data.tags][0]
    assert parent.data.tags["sweep.front"] == ",".join(str(n) for n in sorted(want))
    assert {n for n, k in kids.items() if k.data.tags.get("trial.front") == "true"} == want  # each member's run
    if report:
        table = client.download_artifacts(parent.info.run_id, "report/front.csv", str(workdir))
        rows = open(table).read().splitlines()
        assert rows[0].startswith("trial,f1,f2,") and {int(r.split(",")[0]) for r in rows[1:]} == want
    text = run_cli(["best", name], workdir, check=True).stdout
    assert text.startswith(f"Pareto front of {name}: {len(want)} trials")
    # `sweep status` marks the same trials; the plain progress lines counted the front as it grew
    last = [ln for ln in launched.splitlines() if "| done 24/24" in ln][0]
    assert f", front {len(want)}" in last, last
    status = json.loads(run_cli(["status", name, "--json"], workdir, check=True).stdout)
    assert {t["number"] for t in status["trials"] if t["best"]} == want


@pytest.mark.parametrize("extra, message", [
    (["search=cmaes"], "search: cmaes optimises one objective, this sweep has 2"),
    (["early_stop=median"], "early_stop: 'median' judges one objective, this sweep has 2"),
    (["budget.target=3"], "budget.target: a target is one objective's value"),
])
def test_what_cannot_take_several_objectives_is_refused_in_one_line(workdir, extra, message):
    write(workdir / "sweep.yaml", SWEEP.replace("NAME", "mo").replace("METHOD", "tpe"))
    p = run_cli(["launch", "sweep.yaml", *extra], workdir)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (workdir / ".sweeps").exists()
