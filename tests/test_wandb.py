"""W&B sweep files and unchanged W&B programs under `sweep launch`, offline, into the study and MLflow.

Each program asserts what W&B's agent would have given it (argv shape, types, ranges); the last one
uses the real `wandb` package (`wandb.init`, `wandb.config`, `wandb.log` per epoch) under hyperband.
"""

from __future__ import annotations

import json

import mlflow
import optuna
from helpers import run_cli, write

ARGV_PROGRAM = """
import ast, json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
assert all(a.startswith("--") for a in sys.argv[1:]), sys.argv
lr, bs, drop = float(args["lr"]), args["batch_size"], float(args["dropout"])
assert 1e-4 <= lr <= 1e-1, lr
assert bs.isdigit() and int(bs) % 16 == 0 and 16 <= int(bs) <= 128, bs  # integer q: no `64.0`
assert args["opt"] in ("adam", "sgd") and args["use_bn"] in ("True", "False"), args
model = ast.literal_eval(args["model"])  # a nested block arrives as W&B's agent prints a dict
assert isinstance(model["depth"], int) and 2 <= model["depth"] <= 5 and model["act"] == "relu", model
print("SWEEPER_RESULT " + json.dumps({"val_loss": lr * int(bs) + drop}))
"""

ARGV_SWEEP = """
program: train.py
method: bayes
name: argv-shape
metric:
  name: val_loss
  goal: minimize
run_cap: 3
parameters:
  lr:
    min: 1e-4
    max: 1e-1
    distribution: log_uniform_values
  batch_size:
    distribution: q_uniform
    min: 16
    max: 128
    q: 16
  dropout:
    distribution: normal
    mu: 0.3
    sigma: 0.05
  opt:
    values: [adam, sgd]
    probabilities: [0.7, 0.3]
  use_bn:
    values: [true, false]
  model:
    parameters:
      depth:
        min: 2
        max: 5
      act:
        value: relu
"""


def test_wandb_file_runs_unchanged_with_wandbs_argv(workdir):
    write(workdir / "train.py", ARGV_PROGRAM)
    write(workdir / "sweep.yaml", ARGV_SWEEP)
    p = run_cli(["launch", "sweep.yaml", "workers=2"], workdir, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0].startswith("sweep.yaml: read as a W&B sweep file"), p.stdout
    study = optuna.load_study(study_name="argv-shape", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3, [
        (workdir / ".sweeps/argv-shape/trials" / str(t.number) / "stderr.txt").read_text() for t in study.trials]


def test_commands_macros_one_argv_item_per_value(workdir):
    write(workdir / "show.py", """
import json, os, sys
print("SWEEPER_RESULT " + json.dumps({"loss": 0}))
json.dump({"argv": sys.argv, "file": json.load(open(sys.argv[-1]))}, open("seen.json", "w"))
""")
    write(workdir / "sweep.yaml", """
program: show.py
method: grid
metric: {name: loss}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - --tag=${envvar:SWEEP_TAG}
  - ${args_no_boolean_flags}
  - ${args_no_hyphens}
  - ${args_json}
  - ${args_json_file}
parameters:
  name:
    values: ["a b; rm -rf /"]
  flag:
    values: [true]
""")
    p = run_cli(["launch", "sweep.yaml"], workdir, env={"SWEEP_TAG": "t1"}, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = json.loads((workdir / "seen.json").read_text())
    assert seen["argv"][1:] == ["--tag=t1", "--name=a b; rm -rf /", "--flag", "name=a b; rm -rf /", "flag=True",
                                json.dumps({"name": "a b; rm -rf /", "flag": True}), seen["argv"][-1]]
    assert seen["file"] == {"name": "a b; rm -rf /", "flag": True}


def test_bad_wandb_file_one_line_exit_2_nothing_created(workdir):
    write(workdir / "train.py", "")
    cases = {
        "methd: random\nprogram: train.py\nparameters: {x: {values: [1]}}": "methd: unknown key (did you mean 'method'?)",
        "method: random\nprogram: train.py\nparameters: {x: {distribution: gauss}}": "parameters.x.distribution",
        "method: random\nprogram: nope.py\nparameters: {x: {min: 0.0, max: 1.0}}": "program: no such file",
        "method: random\nprogram: train.py\nparameters: {x: {values: [1, 2], probabilities: [0.5, 0.6]}}":
            "parameters.x.probabilities: must sum to 1",
        "method: random\nprogram: train.py\ncommand:\n  - python\n  - ${program}\n  - ${argz}\nparameters: {x: {min: 0.0, max: 1.0}}":
            "command[2]: unknown macro ${argz}",
    }
    for text, words in cases.items():
        write(workdir / "bad.yaml", text)
        p = run_cli(["launch", "bad.yaml"], workdir, timeout=60)
        assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, (text, p.stderr)
        assert "bad.yaml" in p.stderr and not p.stdout
    assert not (workdir / ".sweeps").exists() and not (workdir / "mlflow.db").exists()


WANDB_PROGRAM = """
import wandb

run = wandb.init()
x = wandb.config.x
assert isinstance(x, int), type(x)
assert wandb.config.opt == {"lr": 0.1}, wandb.config.opt
for epoch in range(6):
    wandb.log({"loss": x + 1.0 / (epoch + 1), "epoch": epoch})
wandb.finish()
"""


def test_unchanged_wandb_program_under_hyperband(workdir):
    # a grid, as W&B allows with early_terminate: every point runs once, some of them pruned
    write(workdir / "train.py", WANDB_PROGRAM)
    write(workdir / "sweep.yaml", """
program: train.py
method: grid
project: wb-project
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [0, 1, 2, 3, 4, 5]}
  opt:
    parameters:
      lr: {value: 0.1}
early_terminate: {type: hyperband, min_iter: 2, eta: 3}
""")
    p = run_cli(["launch", "sweep.yaml", "seed=0", "workers=1"], workdir, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states and "COMPLETE" in states, states
    assert sorted(t.params["x"] for t in study.trials) == [0, 1, 2, 3, 4, 5]  # each point once, pruned or not
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name("wb-project")  # W&B's project names the MLflow experiment
    runs = {r.data.tags.get("trial.number"): r for r in client.search_runs([exp.experiment_id])
            if "mlflow.parentRunId" in r.data.tags}
    for t in study.trials:
        x = t.params["x"]
        # logged while it ran, with its step (W&B's iteration count): the pruned ones keep theirs
        assert t.intermediate_values[1] == x + 1.0 and t.intermediate_values[2] == x + 0.5
        if t.state.name == "COMPLETE":
            assert sorted(t.intermediate_values) == [1, 2, 3, 4, 5, 6] and t.value == x + 1 / 6
        hist = client.get_metric_history(runs[str(t.number)].info.run_id, "loss")
        assert {m.step: m.value for m in hist}[2] == x + 0.5
        assert len(hist) == (6 if t.state.name == "COMPLETE" else 2)
