"""`command` trials: an unchanged @hydra.main app, SWEEPER_RESULT lines, no shell injection."""

from __future__ import annotations

import json
import shutil

import mlflow
import optuna
from helpers import ROOT, run_cli, write


def test_hydra_app_example_runs_unchanged(workdir):
    for f in ("train.py", "config.yaml", "sweep.yaml"):
        shutil.copy(ROOT / "examples" / "hydra_app" / f, workdir / f)
    p = run_cli(["launch", "sweep.yaml", "n_trials=4"], workdir, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    study = optuna.load_study(study_name="hydra-app", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert all(max(t.intermediate_values) == 7 for t in study.trials)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name("hydra-app")
    kids = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    for k in kids:
        hist = client.get_metric_history(k.info.run_id, "val_loss")
        assert sorted(m.step for m in hist) == list(range(8))  # the final value is not an extra step
        assert k.data.tags["trial.last_step"] == "7"
        assert {"optimizer.lr", "optimizer.name", "model.width"} <= set(k.data.params)


def test_result_lines_and_no_shell_injection(workdir):
    write(workdir / "echo_args.py", """
import json, sys
from hydra.core.override_parser.overrides_parser import OverridesParser
parser = OverridesParser.create()  # what a @hydra.main app does with its argv
args = {o.key_or_group: o.value() for o in map(parser.parse_override, sys.argv[1:])}
print("SWEEPER_RESULT " + json.dumps({"loss": len(args["tag"]), "argc": len(sys.argv) - 1}))
""")
    write(workdir / "sweep.yaml", """
name: inject
objective: {metric: loss}
params:
  tag: choice("a; touch pwned", "$(touch pwned2)", "`touch pwned3`", "x' y")
  n: 1
search: {method: grid}
trial: {command: "python echo_args.py ${args}"}
""")
    p = run_cli(["launch", "sweep.yaml"], workdir)
    assert p.returncode == 0, p.stderr
    assert not list(workdir.glob("pwned*"))
    study = optuna.load_study(study_name="inject", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert sorted(t.value for t in study.trials) == sorted(
        float(len(v)) for v in ["a; touch pwned", "$(touch pwned2)", "`touch pwned3`", "x' y"])


def test_command_failure_records_the_stderr_tail(workdir):
    write(workdir / "boom.py", "import sys\nprint('loading data', file=sys.stderr)\nsys.exit('CUDA error: out of cheese')\n")
    write(workdir / "sweep.yaml", """
name: boom
objective: {metric: loss}
params: {x: "choice(1, 2)"}
search: {method: grid}
trial: {command: "python boom.py ${args}"}
""")
    p = run_cli(["launch", "sweep.yaml"], workdir)
    assert p.returncode == 1 and "no trial completed" in p.stderr
    study = optuna.load_study(study_name="boom", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    errors = [t.user_attrs["sweeper.error"] for t in study.trials]
    assert errors and all("exited with status 1" in e and "out of cheese" in e for e in errors)


def test_missing_command_is_refused_before_anything_is_created(workdir):
    write(workdir / "sweep.yaml", """
name: nocmd
objective: {metric: loss}
params: {x: "choice(1, 2)"}
trial: {command: "no-such-trainer --fast ${args}"}
n_trials: 2
""")
    p = run_cli(["launch", "sweep.yaml"], workdir)
    assert p.returncode == 2
    assert p.stderr.strip() == ("error: sweep.yaml: trial.command: command 'no-such-trainer' not found "
                                "(not on PATH nor an executable path)")
    assert not (workdir / ".sweeps").exists() and not (workdir / "mlflow.db").exists()


def test_function_trial_reporting_from_a_command_that_imports_sweeper(workdir):
    write(workdir / "steps.py", """
import sys, sweeper
x = float(sys.argv[1].split("=")[1])
for s in range(3):
    sweeper.report(step=s, loss=x + s)
""")
    write(workdir / "sweep.yaml", """
name: steps
objective: {metric: loss}
params: {x: "choice(1.0, 2.0)"}
search: {method: grid}
trial: {command: "python steps.py ${args}"}
""")
    p = run_cli(["launch", "sweep.yaml"], workdir)
    assert p.returncode == 0, p.stderr
    b = json.loads(run_cli(["best", "steps", "--json"], workdir, check=True).stdout)
    assert b["value"] == 3.0 and b["params"] == {"x": 1.0} and b["run_id"]
