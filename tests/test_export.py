"""`sweep export`, `status --json`, `ls --json`, the readable `sweep status` and `sweep ui`, end to end
on one real sweep shared by the module: 3 trials complete, 3 fail, every one reports 3 steps."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from helpers import SWEEP, TESTS, free_port, run_cli, wait_for, write

from sweeper.ui.tables import column

TRIAL = '''
import sweeper


def train(cfg):
    x = float(cfg.x)
    for step in range(3):
        sweeper.report(step=step, loss=x * x + 1.0 / (step + 1))
    if cfg.opt == "bad":
        raise ValueError(f"diverged with x={x}")
    return {"loss": x * x}
'''

SWEEP_YAML = """
name: ex
objective: {metric: loss}
params:
  x: "choice(0.5, -1.5, 2.0)"
  opt: "choice(adam, bad)"
  epochs: 3
search: {method: grid}
trial: {function: exp_trial:train}
workers: 1
"""


@dataclasses.dataclass
class Swept:
    d: Path  # the sweep's folder
    study: Any
    runs: dict[int, str]  # trial number -> its MLflow run id
    experiment_id: str
    parent_id: str


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):
    """A finished 6-trial sweep `ex` in its own folder (embedded stores), its study and MLflow runs."""
    import optuna

    d = tmp_path_factory.mktemp("export")
    shutil.copy(TESTS / "objectives.py", d / "objectives.py")
    write(d / "exp_trial.py", TRIAL)
    write(d / "sweep.yaml", SWEEP_YAML)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        run_cli(["launch", "sweep.yaml"], d, check=True)
        study = optuna.load_study(study_name="ex", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        yield dataclasses.replace(mlflow_runs(d), study=study)


def mlflow_runs(d: Path) -> Swept:
    """The sweep's runs, read straight from MLflow's SQLite store (importing mlflow here would cost
    seconds of the 2 cores this module shares)."""
    with sqlite3.connect(f"file:{d}/mlflow.db?mode=ro", uri=True) as db:
        tags = db.execute("select r.run_uuid, r.experiment_id, t.key, t.value from runs r join tags t "
                          "on t.run_uuid = r.run_uuid where t.key in ('trial.number', 'mlflow.parentRunId')").fetchall()
    kids = {int(v): run for run, _, k, v in tags if k == "trial.number"}
    parents = {(str(exp), v) for _, exp, k, v in tags if k == "mlflow.parentRunId"}
    assert len(parents) == 1 and len(kids) == 6
    experiment_id, parent_id = parents.pop()
    return Swept(d, None, kids, experiment_id, parent_id)


def blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


def check_table(df, study, runs: dict[int, str] | None) -> None:
    """The exported table read back by pandas says what the study says."""
    import pandas as pd

    assert list(df.columns) == ["number", "state", "loss", "x", "opt", "epochs", "duration_s", "steps",
                                "datetime_start", "datetime_complete", "run_id", "error"]
    trials = study.trials
    assert list(df["number"]) == [t.number for t in trials]
    for t, (_, r) in zip(trials, df.iterrows(), strict=True):
        assert r["state"] == t.state.name
        if t.state.name == "COMPLETE":
            assert r["loss"] == t.value and blank(r["error"])
        else:
            assert blank(r["loss"]) and r["error"] == t.user_attrs["sweeper.error"] and "diverged" in r["error"]
        assert r["x"] == t.params["x"] and r["opt"] == t.params["opt"] and r["epochs"] == 3
        assert r["steps"] == max(t.intermediate_values) == 2
        assert r["duration_s"] == pytest.approx((t.datetime_complete - t.datetime_start).total_seconds())
        assert pd.Timestamp(r["datetime_start"]) == pd.Timestamp(t.datetime_start)
        assert pd.Timestamp(r["datetime_complete"]) == pd.Timestamp(t.datetime_complete)
        if runs is None:
            assert blank(r["run_id"])
        else:
            assert r["run_id"] == runs[t.number]


def test_the_sweep_has_what_the_export_must_show(swept):
    study = swept.study
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 3


def test_csv_to_stdout_round_trips(swept):
    import pandas as pd

    d, study, runs = swept.d, swept.study, swept.runs
    p = run_cli(["export", "ex"], d, check=True)
    assert p.stderr == ""
    check_table(pd.read_csv(io.StringIO(p.stdout)), study, runs)


def test_parquet_round_trips_and_mlflow_down_leaves_run_id_empty(swept):
    import pandas as pd

    d, study = swept.d, swept.study
    down = f"http://127.0.0.1:{free_port()}"  # the sweep names no tracking URI: the environment's counts
    p = run_cli(["export", "ex", "--format", "parquet", "-o", "out.parq"], d, env={"MLFLOW_TRACKING_URI": down},
                check=True)
    assert p.stdout == ""
    assert p.stderr.startswith(f"warning: MLflow at {down} is unreachable (") and p.stderr.count("\n") == 1
    assert p.stderr.endswith("): run_id left empty\n")
    df = pd.read_parquet(d / "out.parq")
    assert str(df["datetime_start"].dtype).startswith("datetime64")
    check_table(df, study, None)


def test_json_by_the_file_extension_round_trips(swept):
    import pandas as pd

    d, study = swept.d, swept.study
    p = run_cli(["export", "ex", "-o", "trials.json"], d, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"},
                check=True)  # MLflow down: the json keeps run_id null
    assert p.stdout == "" and p.stderr.startswith("warning: MLflow at http://127.0.0.1:1 is unreachable")
    text = (d / "trials.json").read_text()
    rows = json.loads(text)
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    assert isinstance(rows[0]["number"], int) and isinstance(rows[0]["x"], float)
    check_table(pd.DataFrame(rows), study, None)
    check_table(pd.read_json(io.StringIO(text), dtype=False), study, None)


def test_status_and_ls_as_json(swept):
    d, study = swept.d, swept.study
    s = json.loads(run_cli(["status", "ex", "--json"], d, check=True).stdout)
    best = study.best_trial
    assert (s["name"], s["state"], s["n_trials"], s["complete"], s["failed"]) == ("ex", "FINISHED", None, 3, 3)
    assert s["metrics"] == ["loss"] and s["best_trial"] == best.number and s["best_value"] == best.value
    assert [t["number"] for t in s["trials"]] == [t.number for t in study.trials]
    for t, j in zip(study.trials, s["trials"], strict=True):
        assert j["state"] == t.state.name and j["params"] == t.params and j["last_step"] == 2
        assert j["values"] == {"loss": t.value} and j["best"] == (t.number == best.number)
        assert isinstance(j["duration_s"], float)
        assert (j["error"] is None) == (t.state.name == "COMPLETE")
    ls = json.loads(run_cli(["ls", "--json"], d, check=True).stdout)
    assert ls == [{k: s[k] for k in ("name", "state", "n_trials", "done", "complete", "pruned", "failed",
                                      "interrupted", "retried", "running", "best_value", "best_trial",
                                      "directions", "budget")}]
    assert ls[0]["done"] == 6 and ls[0]["directions"] == ["minimize"] and ls[0]["budget"] == {}


def test_status_text_right_aligns_numbers_and_marks_the_best(swept):
    d, study = swept.d, swept.study
    out = run_cli(["status", "ex"], d, check=True).stdout
    print(out)
    lines = out.splitlines()
    assert lines[0].startswith("ex: FINISHED, 3 complete, 0 pruned, 3 failed")
    header, rows = lines[1], lines[2:]
    assert header.split()[:6] == ["TRIAL", "STATE", "loss", "BEST", "LAST_STEP", "DURATION_S"]
    assert "VALUE" not in header and len(rows) == 6
    ends = {c: header.index(c) + len(c) for c in ("TRIAL", "loss", "LAST_STEP", "DURATION_S", "x")}
    best = study.best_trial.number
    losses, xs = column([t.value for t in study.trials]), column([t.params["x"] for t in study.trials])
    # one precision per column: the decimal points of a column line up
    assert len({line.index(".", ends["x"] - len(xs[0])) for line in rows}) == 1
    for t, line, loss, x in zip(study.trials, rows, losses, xs, strict=True):
        cells = {"TRIAL": str(t.number), "loss": loss, "LAST_STEP": "2",
                 "DURATION_S": f"{(t.datetime_complete - t.datetime_start).total_seconds():.1f}", "x": x}
        for col, text in cells.items():  # right-aligned: each number ends where its header ends
            end = ends[col]
            assert line[end - len(text):end] == text and line[end - len(text) - 1] == " ", (col, line)
            assert end == len(line) or line[end] == " ", (col, line)
        marked = line[header.index("BEST"):].split()[0] == "*"
        assert marked == (t.number == best), line
    assert out.count("*") == 1


def test_bad_input_is_one_line_and_writes_nothing(swept):
    d = swept.d
    before = sorted(os.listdir(d))
    cases = [
        (["export", "nope", "-o", "t.csv"], "error: no sweep named 'nope' in this storage (known: ex)"),
        (["export", "ex", "--format", "xml"], "error: command line: --format: unknown format 'xml' "
                                              "(allowed: csv, json, parquet)"),
        (["export", "ex", "--format", "parquet"], "error: command line: --format: parquet is binary"),
        (["export", "ex", "-o", "no/such/dir/t.csv"], f"error: command line: -o: folder {d}/no/such/dir does not exist"),
        (["export", "ex", "-o", ".sweeps"], "error: command line: -o: .sweeps is a folder"),
        (["ui", "ex", "--port", "http"], "error: command line: --port: 'http' is not a port (allowed: 1-65535)"),
    ]
    for args, message in cases:
        p = run_cli(args, d)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stderr.startswith(message) and p.stderr.count("\n") == 1, (args, p.stderr)
        assert p.stdout == "", args
    assert sorted(os.listdir(d)) == before


def test_run_url_opens_the_model_training_view():
    from sweeper.tracking.mlflow.lookup import run_url

    assert run_url("http://127.0.0.1:5000/", "3", "abc") == \
        "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"


def test_ui_of_a_sweep_on_an_mlflow_server_only_prints_its_url(monkeypatch):
    from sweeper import ui_server

    monkeypatch.setattr(ui_server, "_parent_run", lambda name, storage=None: ("http://mlflow.example:5000", "r1"))
    monkeypatch.setattr(ui_server, "mlflow_run", lambda name, storage=None: ("http://mlflow.example:5000", "7", "r1"))
    monkeypatch.setattr(subprocess, "Popen", None)  # starts nothing
    said: list[str] = []
    ui_server.serve_ui("ex", "sqlite:///unused.db", 5000, said.append)
    assert said == ["http://mlflow.example:5000/#/experiments/7/runs/r1?workflowType=machine_learning"]


def test_render_keeps_mixed_choices_and_infinities_readable():
    import pandas as pd

    from sweeper.query import TrialsTable, render

    cols = ["number", "state", "loss", "act", "duration_s", "steps", "datetime_start", "datetime_complete",
            "run_id", "error"]
    rows = [dict(zip(cols, r, strict=True)) for r in [
        (0, "COMPLETE", math.inf, 1, 1.5, 3, "2026-01-02T03:04:05.123456", "2026-01-02T03:04:06.623456", "r0", None),
        (1, "FAIL", None, "relu", 0.5, None, "2026-01-02T03:05:00", "2026-01-02T03:05:00.500000", None, "boom"),
        (2, "RUNNING", None, None, None, None, "2026-01-02T03:06:00", None, None, None)]]
    table = TrialsTable(cols, rows)
    df = pd.read_parquet(io.BytesIO(render(table, "parquet")))  # a choice of 1 or relu is stored as text
    assert list(df["act"][:2]) == ["1", "relu"] and pd.isna(df["act"][2])
    assert df["steps"][0] == 3 and df["steps"].isna().sum() == 2
    assert df["datetime_complete"][0] == pd.Timestamp("2026-01-02T03:04:06.623456") and pd.isna(df["datetime_complete"][2])
    back = json.loads(render(table, "json"))  # strict JSON: infinity is null
    assert back[0]["loss"] is None and back[0]["act"] == 1 and back[1]["act"] == "relu"
    csv = pd.read_csv(io.StringIO(render(table, "csv")))
    assert csv["loss"][0] == math.inf and list(csv["run_id"].fillna("")) == ["r0", "", ""]


def test_tables_right_align_only_the_columns_asked():
    from sweeper.ui.tables import table

    out: list[str] = []
    table(("NAME", "N"), [("a", "1"), ("bbb", "100")], out.append, right={1})
    assert out == ["NAME    N", "a       1", "bbb   100"]
    out.clear()
    table(("NAME", "N"), [("a", "1"), ("bbb", "100")], out.append)  # the old callers: all left
    assert out == ["NAME  N", "a     1", "bbb   100"]


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line `proc` prints (the handshake), or fail after `timeout` s."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got and got[0], f"sweep ui printed no URL in {timeout:g} s (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}"
    return got[0].strip()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_ui(d: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["PATH"] = "/usr/bin:/bin"  # the mlflow executable is found next to the interpreter, not on PATH
    return subprocess.Popen([*SWEEP, "ui", "ex", "--port", str(port)], cwd=d, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def servers_on(port: int) -> list[str]:
    """The processes of the MLflow UI on `port` (its `mlflow ui` launcher and uvicorn)."""
    pattern = f"(mlflow ui|uvicorn) .*--port {port}( |$)"
    return subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True).stdout.split()


def test_ui_stops_its_server_on_sigint_while_it_starts(swept):
    d = swept.d
    port = free_port()
    proc = start_ui(d, port)
    try:
        wait_for(lambda: servers_on(port), f"mlflow ui on port {port} to start", timeout=120, proc=proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0 and proc.stdout.read() == ""
        assert servers_on(port) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ui_serves_the_parent_run_and_stops_on_sigterm(swept):
    d = swept.d
    port = free_port()
    proc = start_ui(d, port)
    try:
        url = read_line(proc, 240)
        base = f"http://127.0.0.1:{port}"
        assert url == f"{base}/#/experiments/{swept.experiment_id}/runs/{swept.parent_id}?workflowType=machine_learning"
        assert answers(url)  # the page (the fragment stays in the browser)
        assert answers(f"{base}/ajax-api/2.0/mlflow/runs/get?run_id={swept.parent_id}")  # and its run is there
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not answers(f"{base}/health")
        assert servers_on(port) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
