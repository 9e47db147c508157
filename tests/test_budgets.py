"""Budgets beyond n_trials (`budget.steps`, `budget.time`, `budget.target`): each ends a sweep
where it should, says which limit ended it, survives a power cut and a resume, and a resume
extends it."""

from __future__ import annotations

import optuna
import pytest
from helpers import count, kill_when, process_tree, run_cli, start_cli, wait_for, write

SWEEP_FILE = """
name: b
objective: {metric: loss}
params: {x: "interval(-3.0, 5.0)"}
trial: {function: objectives:stepped}
n_trials: 200
workers: 2
seed: 9
"""


def _trials(workdir, name="b"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/.sweeps/sweeps.db").get_trials(deepcopy=False)


def _steps(trials) -> int:
    return sum(len(t.intermediate_values) for t in trials)


@pytest.mark.slow
def test_a_steps_budget_ends_the_sweep_within_a_report_per_worker_and_a_resume_extends_it(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE + "budget: {steps: 60}\n")
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert "stopped: budget.steps reached" in p.stdout, p.stdout
    trials = _trials(workdir)
    # a running trial stops at its next report once the budget is spent: one report per worker at most
    assert 60 <= _steps(trials) <= 62 and len(trials) < 200, (_steps(trials), len(trials))
    stopped = [t for t in trials if t.user_attrs.get("sweeper.stopped_by")]
    assert all(t.state.name == "PRUNED" and t.user_attrs["sweeper.stopped_by"] == "budget.steps" for t in stopped)
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    status = run_cli(["status", "b"], workdir, check=True).stdout.splitlines()[0]
    assert status.endswith(f"of n_trials=200, steps {_steps(trials)}/60"), status
    ls = run_cli(["ls"], workdir, check=True).stdout
    assert "BUDGET" in ls and f"steps {_steps(trials)}/60" in ls, ls
    # nothing left: a resume runs nothing; a bigger budget runs the difference
    again = run_cli(["resume", "b"], workdir, check=True)
    assert "stopped: budget.steps reached" in again.stdout and len(_trials(workdir)) == len(trials)
    more = run_cli(["resume", "b", "budget.steps=100"], workdir, check=True)
    assert "stopped: budget.steps reached" in more.stdout
    assert 100 <= _steps(_trials(workdir)) <= 102


@pytest.mark.slow
def test_a_steps_budget_holds_across_a_power_cut(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE + "budget: {steps: 80}\n")
    db = workdir / ".sweeps" / "sweeps.db"
    kill_when(start_cli(["launch", "sweep.yaml"], workdir), db, 2)
    p = run_cli(["resume", "b"], workdir, check=True)
    assert "stopped: budget.steps reached" in p.stdout, p.stdout
    trials = _trials(workdir)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    # the cut-off trials' steps were spent too: every reported step counts once, the budget holds
    assert 80 <= _steps(trials) <= 82, _steps(trials)
    assert [t for t in trials if t.user_attrs.get("sweeper.interrupted")], "the cut did not land mid-trial"


@pytest.mark.slow
def test_a_target_ends_the_sweep_once_a_finished_trial_reaches_it(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE.replace("objectives:stepped", "objectives:trivial")
          .replace("n_trials: 200", "n_trials: 500") + "budget: {target: 0.05}\n")
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert "stopped: budget.target reached (loss=" in p.stdout, p.stdout
    done = sorted((t for t in _trials(workdir) if t.state.name == "COMPLETE"), key=lambda t: t.datetime_complete)
    hit = next(i for i, t in enumerate(done) if t.value <= 0.05)
    assert len(done) - hit - 1 <= 1 and len(done) < 500  # only the other worker's trial finished after it


@pytest.mark.slow
def test_a_time_budget_starts_no_trial_after_it_ran_out(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE.replace("objectives:stepped", "objectives:half_second")
          .replace("n_trials: 200", "n_trials: 1000") + "budget: {time: 3s}\n")
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    assert "stopped: budget.time reached" in p.stdout, p.stdout
    study = optuna.load_study(study_name="b", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    (start, last), = [v for k, v in study.user_attrs.items() if k.startswith("sweeper.period.")]
    trials = study.get_trials(deepcopy=False)
    assert 3 <= last - start and count(workdir / ".sweeps" / "sweeps.db", "COMPLETE") == len(trials) < 1000
    # every trial started within the budget (checked once a turn of the loop: 0.1 s late at most)
    assert max(t.datetime_start.timestamp() for t in trials) <= start + 3 + 0.5
    status = run_cli(["status", "b"], workdir, check=True).stdout.splitlines()[0]
    spent = status.rsplit(", time ", 1)[1]
    assert spent.endswith("s/3s") and int(spent.split("s/")[0]) >= 3, status


@pytest.mark.slow
def test_two_agents_spend_one_steps_budget_between_them(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE.replace("objectives:stepped", "objectives:joined_stepped")
          + "budget: {steps: 80}\n")
    db = workdir / ".sweeps" / "sweeps.db"
    first = start_cli(["launch", "sweep.yaml", "workers=1"], workdir)
    wait_for(lambda: count(db, "COMPLETE") >= 1, "a COMPLETE trial of the first agent", timeout=60, proc=first)
    first_pids = {str(p) for p in process_tree(first.pid)}
    # the first agent's worker waits inside trial 1 until a worker of the second agent is in a trial
    second = start_cli(["agent", "b", "workers=1"], workdir)
    wait_for(lambda: {p.name[3:] for p in workdir.glob("in.*")} - first_pids, "a trial in the second agent's worker",
             timeout=120, proc=second)
    (workdir / "go").touch()
    assert second.wait(timeout=300) == 0 and first.wait(timeout=300) == 0
    trials = _trials(workdir)
    # both agents spent the one budget: 80 steps in all, each agent's running trial at most one report over
    assert 80 <= _steps(trials) <= 82 and len(trials) < 200, (_steps(trials), len(trials))
    status = run_cli(["status", "b"], workdir, check=True).stdout.splitlines()[0]
    assert status.endswith(f"of n_trials=200, steps {_steps(trials)}/80"), status
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
