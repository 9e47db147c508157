"""`sweep launch` end to end, against a real MLflow server and against the embedded defaults."""

from __future__ import annotations

import json
import math
import re
import sqlite3

import mlflow
import optuna
import pytest
import yaml
from helpers import run_cli, write

SWEEP = """
defaults:
  - search: tpe
  - _self_
name: layout
objective: {metric: loss, goal: minimize}
params:
  x: interval(-5.0, 5.0)
  y: choice(-1, 0, 1)
  lr: tag(log, interval(1e-4, 1e-1))
  epochs: 3
trial:
  function: objectives:quadratic_seeing_imports
n_trials: 8
workers: 2
seed: 7
storage: sqlite:///study.db
tracking: {uri: URI}
"""


def runs_of(client, name):
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no experiment {name}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, kids


FAST = """
name: fast
objective: {metric: loss}
params: {x: "interval(-5.0, 5.0)", depth: "range(1, 9)"}
trial: {function: objectives:three_reports}
search: {method: random}
n_trials: TRIALS
workers: 8
seed: 11
storage: sqlite:///study.db
tracking: {uri: URI}
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["server", "sqlite"])
def test_a_fast_sweep_of_hundreds_of_trials_on_8_workers_leaves_every_run_intact(workdir, where, request):
    """The writer behind the driver, against a real server (its runs' writes on threads) and against
    the SQLite store (MLflow's tables written a drain at a time, sql_runs.py): one run per trial,
    with its params, its metrics at their steps, its tags and status, nothing twice (read from the
    store's file: hundreds of runs' histories are minutes of REST calls)."""
    if where == "server":  # 200: the server takes ~6 trials/s on 2 cores (README, "The MLflow writer")
        (url, db), n = request.getfixturevalue("mlflow_server_at"), 200
    else:
        db, n = workdir / "mlflow.db", 300
        url = f"sqlite:///{db}"
    write(workdir / "sweep.yaml", FAST.replace("URI", url).replace("TRIALS", str(n)))
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert "MLflow" not in p.stderr, p.stderr  # no failed write, no outage
    trials = optuna.load_study(study_name="fast", storage="sqlite:///study.db").trials
    assert len(trials) == n and all(t.state.name == "COMPLETE" for t in trials)
    store = sqlite3.connect(db)
    try:
        (exp,) = store.execute("SELECT experiment_id FROM experiments WHERE name = 'fast'").fetchone()
        runs = dict(store.execute("SELECT run_uuid, status FROM runs WHERE experiment_id = ?", (exp,)).fetchall())
        tags: dict[str, dict[str, str]] = {r: {} for r in runs}
        params: dict[str, list[tuple[str, str]]] = {r: [] for r in runs}
        history: dict[str, set[tuple[str, int, float]]] = {r: set() for r in runs}
        for run, key, value in store.execute("SELECT run_uuid, key, value FROM tags"):
            if run in runs:
                tags[run][key] = value
        for run, key, value in store.execute("SELECT run_uuid, key, value FROM params"):
            if run in runs:
                params[run].append((key, value))
        for run, key, step, value in store.execute("SELECT run_uuid, key, step, value FROM metrics"):
            if run in runs:
                history[run].add((key, step, value))
    finally:
        store.close()
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in tags[r]]
    assert runs[parent] == "FINISHED" and tags[parent]["sweep.state"] == "FINISHED"
    kids = {int(tags[r]["trial.number"]): r for r in runs if r != parent}
    assert len(runs) == n + 1 and sorted(kids) == list(range(n))  # one run per trial, none twice
    for t in trials:
        run = kids[t.number]
        assert runs[run] == "FINISHED" and tags[run]["mlflow.parentRunId"] == parent, t.number
        assert tags[run]["trial.state"] == "COMPLETE" and tags[run]["mlflow.runName"] == f"trial-{t.number}"
        assert sorted(params[run]) == [("depth", str(t.params["depth"])), ("x", str(t.params["x"]))], t.number
        x = t.params["x"]
        assert history[run] == {("loss", 0, x), ("loss", 1, x + 1), ("loss", 2, x + 2)}, t.number
    best = min(trials, key=lambda t: t.value)
    assert [n for n, r in kids.items() if tags[r].get("trial.best") == "true"] == [best.number]
    assert tags[parent]["best.trial"] == str(best.number) and f"/runs/{kids[best.number]}?" in tags[parent][
        "mlflow.note.content"]


@pytest.mark.slow
def test_layout_on_a_real_tracking_server(workdir, mlflow_server):
    write(workdir / "sweep.yaml", SWEEP.replace("URI", mlflow_server))
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True, env={"SWEEPER_REPORT": "1"})
    assert "best loss=" in p.stdout and f"runs: {mlflow_server}/#/experiments/" in p.stdout
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    parents, kids = runs_of(client, "layout")
    assert len(parents) == 1 and len(kids) == 8
    parent = parents[0]
    assert parent.info.run_name == "layout" and parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["sweep.name"] == "layout" and tags["sweep.state"] == "FINISHED"
    # the sweep's settings are tags: the runs table's param columns are the trials' own
    assert parent.data.params == {}
    assert tags["setting.search.method"] == "tpe" and tags["setting.n_trials"] == "8" and tags["setting.workers"] == "2"
    assert tags["setting.early_stop.type"] == "none" and tags["setting.space.lr"] == "tag(log, interval(1e-4, 1e-1))"
    for key in ("python.version", "host", "version.optuna", "version.mlflow"):
        assert tags.get(key), key
    assert tags["sweep.command"].endswith("launch sweep.yaml")

    study = optuna.load_study(study_name="layout", storage="sqlite:///study.db")
    assert len(study.trials) == 8 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert study.metric_names == ["loss"]  # optuna-dashboard labels the objective
    by_number = {int(k.data.tags["trial.number"]): k for k in kids}
    assert sorted(by_number) == list(range(8))
    for t in study.trials:
        k = by_number[t.number]
        assert k.info.run_name == f"trial-{t.number}" and k.info.status == "FINISHED"
        # true times: the run spans the trial as the study records it
        run_s = (k.info.end_time - k.info.start_time) / 1000
        true_s = (t.datetime_complete - t.datetime_start).total_seconds()
        assert run_s > 0 and abs(run_s - true_s) < 1.0, (t.number, run_s, true_s)
        assert k.info.end_time <= parent.info.end_time
        assert k.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert k.data.tags["trial.state"] == "COMPLETE" and k.data.tags["trial.last_step"] == ""
        assert k.data.tags["worker.gpus"] == "" and int(k.data.tags["worker.pid"]) > 0 and k.data.tags["worker.host"]
        assert float(k.data.params["x"]) == t.params["x"] and k.data.params["epochs"] == "3"
        assert math.isclose(k.data.metrics["loss"], t.value) and "aux" in k.data.metrics
        assert k.data.metrics["worker_had_mlflow"] == 0.0  # workers never import MLflow for the run
        arts = {a.path for a in client.list_artifacts(k.info.run_id)}
        assert {"stdout.txt", "stderr.txt"} <= arts
        out = client.download_artifacts(k.info.run_id, "stdout.txt", str(workdir))
        assert "training x=" in open(out).read()

    best = study.best_trial
    best_run = by_number[best.number].info.run_id
    assert [k.info.run_id for k in kids if k.data.tags.get("trial.best") == "true"] == [best_run]
    note = tags["mlflow.note.content"]  # the parent's description: the answer first
    assert f"/runs/{best_run}?workflowType=machine_learning)" in note and f"trial-{best.number}" in note and "minimize `loss`" in note
    assert f"| x | {best.params['x']:.6g} |" in note and "**8** of 8 trials finished" in note
    # every complete trial's objective on the parent, on the best line's steps
    per_trial = sorted(client.get_metric_history(parent.info.run_id, "trial_loss"), key=lambda m: m.step)
    assert sorted(m.value for m in per_trial) == sorted(t.value for t in study.trials)
    assert [m.step for m in per_trial] == list(range(1, 9))
    assert math.isclose(parent.data.metrics["best_loss"], best.value)
    assert parent.data.tags["best.trial"] == str(best.number)
    assert math.isclose(float(parent.data.tags["best.x"]), best.params["x"])
    hist = sorted(client.get_metric_history(parent.info.run_id, "best_loss"), key=lambda m: m.step)
    assert [m.step for m in hist] == list(range(1, 9))
    assert all(b.value <= a.value for a, b in zip(hist, hist[1:], strict=False))
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep.yaml", "best_config.yaml", "environment", "report"} <= arts
    # the report, with previews MLflow shows, and what drives the objective as parent metrics
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in report and any(a.endswith(".png") for a in report)
    importances = {k: v for k, v in parent.data.metrics.items() if k.startswith("importance.")}
    assert set(importances) == {"importance.x", "importance.y", "importance.lr"}
    assert math.isclose(sum(importances.values()), 1.0, rel_tol=1e-6)
    frozen = open(client.download_artifacts(parent.info.run_id, "environment/requirements.txt", str(workdir))).read()
    assert f"optuna=={optuna.__version__}" in frozen.splitlines() and "mlflow==" in frozen
    best_cfg = yaml.safe_load(open(client.download_artifacts(parent.info.run_id, "best_config.yaml", str(workdir))))
    assert best_cfg["x"] == best.params["x"] and best_cfg["epochs"] == 3
    stored = yaml.safe_load(open(client.download_artifacts(parent.info.run_id, "sweep.yaml", str(workdir))))
    assert stored["name"] == "layout" and stored["params"]["x"] == "interval(-5.0, 5.0)"

    b = json.loads(run_cli(["best", "layout", "--json", "--storage", "sqlite:///study.db"], workdir, check=True).stdout)
    assert b == {"name": "layout", "trial": best.number, "value": best.value, "params": best.params,
                 "run_id": by_number[best.number].info.run_id}


def test_embedded_defaults_need_no_setup(workdir):
    text = SWEEP.replace("storage: sqlite:///study.db\n", "").replace("tracking: {uri: URI}\n", "")
    write(workdir / "sweep.yaml", text.replace("n_trials: 8", "n_trials: 4"))
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert (workdir / ".sweeps" / "sweeps.db").exists() and (workdir / "mlflow.db").exists()
    # the MLflow writer ends without the interpreter's teardown, but closes its store first: the store
    # is whole in its one file, no WAL left beside it, every run in it (read with plain sqlite3)
    assert not (workdir / "mlflow.db-wal").exists() and not (workdir / "mlflow.db-shm").exists()
    with sqlite3.connect(f"file:{workdir}/mlflow.db?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0] == 5
    # the parent run's page in the model-training view, and a command that works in a fresh shell
    parents, _ = runs_of(mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db"), "layout")
    assert f"/runs/{parents[0].info.run_id}?workflowType=machine_learning" in p.stdout
    assert re.search(r"open it with: /\S+/bin/sweep ui layout\n", p.stdout)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    parents, kids = runs_of(client, "layout")
    assert len(parents) == 1 and len(kids) == 4
    ls = run_cli(["ls"], workdir, check=True).stdout
    assert "layout" in ls and "FINISHED" in ls and "4/4" in ls
    st = run_cli(["status", "layout"], workdir, check=True).stdout
    assert st.count("COMPLETE") == 4
    # the same name again is refused and points to resume, creating nothing
    again = run_cli(["launch", "sweep.yaml"], workdir)
    assert again.returncode != 0 and "sweep resume layout" in again.stderr
    assert len(runs_of(client, "layout")[1]) == 4


def test_trial_config_is_composed_with_hydra(workdir):
    (workdir / "train_conf").mkdir()
    write(workdir / "train_conf" / "base.yaml", "optim: {lr: 0.1}\nmodel: {layers: 2}\ndata: {name: digits}\n")
    write(workdir / "sweep.yaml", """
name: nested
objective: {metric: loss}
params:
  optim.lr: choice(0.5, 1.0)
  model.layers: choice(1, 3)
trial: {function: objectives:with_config, config: train_conf/base.yaml}
n_trials: 4
search: {method: grid}
""")
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    study = optuna.load_study(study_name="nested", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    values = sorted(t.value for t in study.trials)
    assert values == [0.5, 1.0, 1.5, 3.0]  # every grid point once, config keys overridden


def test_dry_run_describes_the_space_and_creates_nothing(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("storage: sqlite:///study.db\n", "").replace("tracking: {uri: URI}\n", ""))
    dry = run_cli(["launch", "sweep.yaml", "--dry-run", "search=grid", "params.x=choice(1,2)", "params.lr=choice(0.1,0.01)"],
                  workdir, check=True).stdout
    assert "grid size: 12" in dry and "x: categorical [1, 2]" in dry
    assert not (workdir / ".sweeps").exists() and not (workdir / "mlflow.db").exists()


def test_plain_lines_without_a_terminal(workdir):
    """Output to a pipe (a log, CI) gets no live panel: one plain line per finished trial."""
    write(workdir / "sweep.yaml", SWEEP.replace("storage: sqlite:///study.db\n", "").replace("tracking: {uri: URI}\n", "")
          .replace("n_trials: 8", "n_trials: 4"))
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert "\x1b" not in p.stdout + p.stderr, "ANSI escapes in output that is not a terminal"
    line = re.compile(r"\[layout\] trial (\d+) COMPLETE loss=(\S+) \| done (\d+)/4, running \d+, failed 0, "
                      r"best loss=\S+ \(trial \d+\)")
    trial_lines = [ln for ln in p.stdout.splitlines() if "] trial " in ln]
    assert len(trial_lines) == 4, p.stdout
    matches = [line.fullmatch(ln) for ln in trial_lines]
    assert all(matches), p.stdout
    assert [int(m.group(3)) for m in matches] == [1, 2, 3, 4]  # counted as they finish
    study = optuna.load_study(study_name="layout", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    values = {t.number: t.value for t in study.trials}
    assert sorted(int(m.group(1)) for m in matches) == sorted(values) == [0, 1, 2, 3]
    for m in matches:
        assert m.group(2) == f"{values[int(m.group(1))]:.6g}"
