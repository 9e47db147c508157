"""Ctrl-C: dispatch stops, running trials end, their runs are KILLED, the sweep exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mlflow
import optuna
from helpers import alive, cmdline, count, mid_trial, process_tree, wait_for, write


def test_ctrl_c_kills_running_trials_and_exits_130(workdir):
    write(workdir / "sweep.yaml", """
name: ctrlc
objective: {metric: loss}
params: {x: "interval(0.0, 1.0)"}
trial: {function: objectives:slow}
n_trials: 50
workers: 2
search: {method: random}
""")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    db = str(workdir / ".sweeps" / "sweeps.db")
    wait_for(lambda: count(db, "COMPLETE") >= 2, "2 COMPLETE trials before Ctrl-C", proc=proc)
    wait_for(lambda: mid_trial(db) == 2, "2 trials mid-run (RUNNING, a step reported) before Ctrl-C", proc=proc)
    started = {p: cmdline(p) for p in process_tree(proc.pid) if p != proc.pid}  # what the driver started
    workers = [p for p, cmd in started.items() if "sweeper.runtime.worker" in cmd]
    assert len(workers) == 2, started
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - t0 < 15
    assert "sweep resume ctrlc" in err and "Traceback" not in err

    study = optuna.load_study(study_name="ctrlc", storage=f"sqlite:///{db}")
    states = [t.state.name for t in study.trials]
    assert "RUNNING" not in states and len(states) < 50
    interrupted = [t for t in study.trials if t.user_attrs.get("sweeper.interrupted")]
    assert 1 <= len(interrupted) <= 2

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("ctrlc").experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags][0]
    assert parent.data.tags["sweep.state"] == "KILLED" and parent.info.status == "KILLED"
    kids = {int(r.data.tags["trial.number"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    for t in interrupted:
        assert kids[t.number].info.status == "KILLED"
    assert not [r for r in kids.values() if r.info.status == "RUNNING"]
    # no worker survives its driver, which reaps them before it exits; its other helpers (MLflow's
    # writer, multiprocessing's resource tracker) see its pipes close and end by themselves
    assert not [p for p in workers if alive(p)], started
    wait_for(lambda: not [p for p in started if alive(p)], "end of every process the driver started", timeout=10)
