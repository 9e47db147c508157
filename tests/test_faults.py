"""Trials that raise, segfault, exit, hang or are OOM-killed fail alone; the sweep goes on."""

from __future__ import annotations

import mlflow
import optuna
from helpers import run_cli, write

FAULTS = """
name: faults
objective: {metric: loss}
params:
  mode: choice(ok, raise, segfault, exit, oom, hang, nometric, isnan)
  x: 1.0
search: {method: grid}
trial: {function: objectives:faulty, timeout: 3}
workers: 2
max_failures: 10
"""


def test_each_fault_fails_only_its_trial(workdir):
    write(workdir / "sweep.yaml", FAULTS)
    p = run_cli(["launch", "sweep.yaml"], workdir, timeout=120)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name="faults", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    by_mode = {t.params["mode"]: t for t in study.trials}
    assert sorted(by_mode) == sorted(["ok", "raise", "segfault", "exit", "oom", "hang", "nometric", "isnan"])
    assert by_mode["ok"].state.name == "COMPLETE"
    errors = {m: t.user_attrs.get("sweeper.error", "") for m, t in by_mode.items() if m != "ok"}
    assert all(by_mode[m].state.name == "FAIL" for m in errors)
    assert "ValueError: bad hyperparameters: x is cursed" in errors["raise"]
    assert "SIGSEGV" in errors["segfault"] and "Fatal Python error" in errors["segfault"]
    assert "exited with status 3" in errors["exit"]
    assert "SIGKILL" in errors["oom"] and "out of memory" in errors["oom"]
    assert "timed out after 3 s" in errors["hang"]
    assert "no value for objective metric 'loss' (got: accuracy)" in errors["nometric"]
    assert "is nan" in errors["isnan"]

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name("faults")
    kids = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(kids) == 8
    for k in kids:
        mode = k.data.params["mode"]
        if mode == "ok":
            assert k.info.status == "FINISHED" and k.data.tags["trial.state"] == "COMPLETE"
        else:
            assert k.info.status == "FAILED" and k.data.tags["trial.state"] == "FAIL"
            assert k.data.tags["trial.error"] == errors[mode][:5000]
    raised = next(k for k in kids if k.data.params["mode"] == "raise")
    stderr = open(client.download_artifacts(raised.info.run_id, "stderr.txt", str(workdir))).read()
    assert "Traceback" in stderr and "x is cursed" in stderr


def test_max_failures_stops_the_sweep_with_a_clear_message(workdir):
    write(workdir / "sweep.yaml", FAULTS.replace("choice(ok, raise, segfault, exit, oom, hang, nometric, isnan)",
                                                 "choice(raise, exit, nometric, isnan, ok)")
          .replace("max_failures: 10", "max_failures: 1").replace("workers: 2", "workers: 1")
          .replace("search: {method: grid}", "search: {method: random}\nn_trials: 20\nseed: 0"))
    p = run_cli(["launch", "sweep.yaml"], workdir, timeout=120)
    assert p.returncode == 1
    assert "more than max_failures=1" in p.stderr and "Traceback" not in p.stderr
    study = optuna.load_study(study_name="faults", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert sum(t.state.name == "FAIL" for t in study.trials) == 2
    assert len(study.trials) < 20
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    parent = [r for r in client.search_runs([client.get_experiment_by_name("faults").experiment_id])
              if "mlflow.parentRunId" not in r.data.tags][0]
    assert parent.data.tags["sweep.state"] == "FAILED" and parent.info.status == "FAILED"


def test_retries_rerun_a_crashed_trial_with_the_same_params(workdir):
    write(workdir / "flaky.py", """
import os, sweeper
def train(cfg):
    marker = os.path.join(sweeper.checkpoint_dir(), "seen")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return {"loss": float(cfg.x)}
""")
    write(workdir / "sweep.yaml", """
name: flaky
objective: {metric: loss}
params: {x: "choice(1.0, 2.0)"}
search: {method: grid}
trial: {function: flaky:train, retries: 1}
""")
    p = run_cli(["launch", "sweep.yaml"], workdir, timeout=120)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name="flaky", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    states = sorted((t.params["x"], t.state.name) for t in study.trials)
    assert states == [(1.0, "COMPLETE"), (1.0, "FAIL"), (2.0, "COMPLETE"), (2.0, "FAIL")]
    retries = [t for t in study.trials if "sweeper.retry_of" in t.user_attrs]
    assert len(retries) == 2
