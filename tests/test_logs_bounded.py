"""`trial.log_limit` end to end: a trial printing tens of MB leaves its head and tail, on disk and in MLflow."""

from __future__ import annotations

import mlflow
import optuna
from helpers import run_cli, write

LIMIT = 1 << 20
NOTE = 200  # the cut's note line, at most

CHATTY_COMMAND = """
import json, sys
x = float(sys.argv[1].split("=")[1])
line = "y" * 99 + "\\n"
for i in range(300):  # 30 MB
    sys.stdout.write(line * 1000)
    if i == 150:  # a report in what will be cut: it counts all the same
        print("SWEEPER_RESULT " + json.dumps({"step": 1, "loss": 5.0}))
for i in range(50):  # 5 MB
    sys.stderr.write(line * 1000)
print("SWEEPER_RESULT " + json.dumps({"loss": x * 2}))
"""

CHATTY_FUNCTION = """
import os, sys
def train(cfg):
    line = "z" * 99 + "\\n"
    for i in range(200):  # 20 MB
        sys.stdout.write(line * 1000)
    sys.stdout.flush()
    os.write(1, b"from C\\n" * 200000)  # what a library writes to fd 1 itself
    for i in range(30):
        sys.stderr.write(line * 1000)
    print("the end")
    return {"loss": float(cfg.x)}
"""


def trial_files(workdir, name):
    d = workdir / ".sweeps" / name / "trials" / "0"
    return (d / "stdout.txt").read_bytes(), (d / "stderr.txt").read_bytes()


def artifact(workdir, name, path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name(name)
    kid, = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    with open(client.download_artifacts(kid.info.run_id, path, str(workdir / "downloaded")), "rb") as f:
        return f.read()


def test_a_command_trial_printing_35_mb_keeps_1_mb_and_its_result(workdir):
    write(workdir / "chatty.py", CHATTY_COMMAND)
    write(workdir / "sweep.yaml", """
name: chatty
objective: {metric: loss}
params: {x: "choice(3)"}
search: {method: grid}
trial: {command: "python chatty.py ${args}", log_limit: 1MB}
""")
    (workdir / "downloaded").mkdir()
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    study = optuna.load_study(study_name="chatty", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    t, = study.trials
    assert t.state.name == "COMPLETE" and t.value == 6.0, p.stdout + p.stderr
    assert t.intermediate_values == {1: 5.0}  # the report printed in the part that was cut

    out, err = trial_files(workdir, "chatty")
    assert len(out) <= LIMIT + NOTE and len(err) <= LIMIT + NOTE
    assert b"[... sweeper cut " in out and b"of stdout: trial.log_limit is 1 MB ...]\n" in out
    assert out.startswith(b"y" * 99 + b"\n") and out.endswith(b'SWEEPER_RESULT {"loss": 6.0}\n')
    assert b'"step": 1' not in out
    assert b"of stderr: trial.log_limit is 1 MB ...]\n" in err and err.endswith(b"y" * 99 + b"\n")
    assert artifact(workdir, "chatty", "stdout.txt") == out
    assert artifact(workdir, "chatty", "stderr.txt") == err


def test_a_function_trial_printing_24_mb_keeps_1_mb(workdir):
    write(workdir / "chatty_fn.py", CHATTY_FUNCTION)
    write(workdir / "sweep.yaml", """
name: chatty-fn
objective: {metric: loss}
params: {x: "choice(2)"}
search: {method: grid}
trial: {function: "chatty_fn:train"}
""")
    (workdir / "downloaded").mkdir()
    p = run_cli(["launch", "sweep.yaml", "trial.log_limit=1MB"], workdir, check=True)
    study = optuna.load_study(study_name="chatty-fn", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    t, = study.trials
    assert t.state.name == "COMPLETE" and t.value == 2.0, p.stdout + p.stderr

    out, err = trial_files(workdir, "chatty-fn")
    assert len(out) <= LIMIT + NOTE and len(err) <= LIMIT + NOTE
    assert out.startswith(b"z" * 99 + b"\n") and out.endswith(b"from C\n" * 1000 + b"the end\n")
    assert b"of stdout: trial.log_limit is 1 MB ...]\n" in out
    assert b"of stderr: trial.log_limit is 1 MB ...]\n" in err
    assert artifact(workdir, "chatty-fn", "stdout.txt") == out
