"""Early termination on learning curves fixed by x: the right trials stop at the right rungs."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from helpers import run_cli, write

# Optuna's successive halving and hyperband (min_iter 1, eta 3) only judge at these steps
RUNGS = {1, 3, 9}

SWEEP = """
defaults:
  - search: random
  - early_stop: POLICY
  - _self_
name: es
objective: {metric: loss}
params:
  x: interval(-10.0, 10.0)
  max_steps: 27
trial: TRIAL
n_trials: 30
workers: 2
seed: 3
"""

# a program that cannot import sweeper: it prints one SWEEPER_RESULT line per step
RESULT_LINES = """
import json, sys, time
args = dict(a.split("=", 1) for a in sys.argv[1:])
x = float(args["x"])
for step in range(int(args["max_steps"])):
    print("SWEEPER_RESULT " + json.dumps({"step": step, "loss": (x - 2.0) ** 2 + 3.0 / (step + 1)}), flush=True)
    time.sleep(0.01)
print("SWEEPER_RESULT " + json.dumps({"loss": (x - 2.0) ** 2 + 3.0 / int(args["max_steps"])}))
"""

# a program that imports sweeper: report raises TrialPruned inside it
REPORTING = """
import sys, sweeper
args = dict(a.split("=", 1) for a in sys.argv[1:])
x = float(args["x"])
for step in range(int(args["max_steps"])):
    sweeper.report(step=step, loss=(x - 2.0) ** 2 + 3.0 / (step + 1))
"""


def check(workdir, policy: str, rungs: set[int]) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="es", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    trials = study.trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 30 and not [t for t in trials if t.state.name == "FAIL"]
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert len(pruned) >= 8, f"{policy}: only {len(pruned)} pruned"
    for t in pruned:
        last = max(t.intermediate_values)
        assert last in rungs, f"{policy}: trial {t.number} pruned at step {last}, not a rung {sorted(rungs)}"
        assert sorted(t.intermediate_values) == list(range(last + 1))
        # someone was better at that rung: a pruned trial fell behind
        better = [o for o in trials if o.number != t.number and o.intermediate_values.get(last, 1e9) < t.intermediate_values[last]]
        assert better
    best_x = min(trials, key=lambda t: abs(t.params["x"] - 2.0))
    assert best_x.state.name == "COMPLETE" and max(best_x.intermediate_values) == 26

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("es").experiment_id], max_results=100)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.tags["setting.early_stop.type"] == policy and parent.data.params == {}
    assert parent.data.tags["sweep.pruned"] == str(len(pruned))
    kids = {int(r.data.tags["trial.number"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    for t in pruned:
        k = kids[t.number]
        assert k.info.status == "FINISHED" and k.data.tags["trial.state"] == "PRUNED"
        assert k.data.tags["trial.last_step"] == str(max(t.intermediate_values))
        assert len(client.get_metric_history(k.info.run_id, "loss")) == len(t.intermediate_values)
    status = run_cli(["status", "es"], workdir, check=True).stdout
    assert status.count("PRUNED") >= len(pruned)
    return pruned


@pytest.mark.slow
def test_asha_function_trials(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("POLICY", "asha").replace("TRIAL", "{function: objectives:curves}"))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    check(workdir, "asha", RUNGS)


@pytest.mark.slow
def test_hyperband_command_trials_that_report(workdir):
    write(workdir / "train.py", REPORTING)
    text = SWEEP.replace("POLICY", "hyperband").replace("TRIAL", '{command: "python train.py ${args}"}')
    write(workdir / "sweep.yaml", text + "early_stop: {min_iter: 1, max_iter: 27, eta: 3}\n")
    run_cli(["launch", "sweep.yaml"], workdir, check=True, timeout=300)
    check(workdir, "hyperband", RUNGS)


def test_median_stops_result_line_programs_with_sigterm(workdir):
    write(workdir / "train.py", RESULT_LINES)
    text = SWEEP.replace("POLICY", "median").replace("TRIAL", '{command: "python train.py ${args}"}')
    write(workdir / "sweep.yaml", text + "early_stop: {warmup_steps: 2, startup_trials: 5}\n")
    run_cli(["launch", "sweep.yaml"], workdir, check=True, timeout=300)
    # the median rule judges at every step after warmup (once 5 trials completed), not at rungs
    check(workdir, "median", set(range(2, 27)))


def test_a_trial_that_never_reports_completes_with_a_warning(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("POLICY", "hyperband").replace("TRIAL", "{function: objectives:trivial}")
          .replace("n_trials: 30", "n_trials: 3"))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("es").experiment_id])
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(kids) == 3
    assert all(k.data.tags["trial.state"] == "COMPLETE" and "never called sweeper.report" in k.data.tags["trial.warning"]
               for k in kids)



def test_hyperband_brackets_bind_pruning_but_the_sampler_learns_from_every_trial(tmp_path):
    """Optuna hands a sampler only the new trial's bracket when the pruner is a HyperbandPruner
    (`pruners._filter_study`); ours must hand it the whole study, and still prune by bracket."""
    from optuna import pruners

    from sweeper import early_stop
    from sweeper.config import load

    write(tmp_path / "s.yaml", "name: hb\nobjective: {metric: loss}\nparams: {x: 'interval(0.0, 1.0)'}\n"
          "trial: {function: objectives:trivial}\nn_trials: 40\nearly_stop: {type: hyperband, min_iter: 1, "
          "max_iter: 27, eta: 3}\n")
    ours = early_stop.make_pruner(load(tmp_path / "s.yaml"))
    optunas = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
    for pruner in (ours, optunas):
        # the same name: Optuna picks a trial's bracket by hashing the study name and trial number
        study = optuna.create_study(study_name="hb", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(40):
            t = study.ask()
            x = t.suggest_float("x", 0.0, 1.0)
            for step in range(27):
                t.report(x + 1.0 / (step + 1), step)
                if t.should_prune():
                    study.tell(t, state=optuna.trial.TrialState.PRUNED)
                    break
            else:
                study.tell(t, x)
        pruned = [t.number for t in study.trials if t.state.name == "PRUNED"]
        seen = len(pruners._filter_study(study, study.trials[-1]).trials)
        if pruner is ours:
            ours_pruned = pruned
            assert seen == 40  # the sampler learns from every trial
        else:
            assert seen < 40  # Optuna alone narrows it to one bracket
            assert pruned == ours_pruned and len(pruned) >= 15  # same brackets, same verdicts
