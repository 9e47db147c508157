"""Kill a sweep anywhere (SIGKILL of every process, as a power cut), resume it, lose nothing."""

from __future__ import annotations

import os
import signal
import time

import mlflow
import optuna
import pytest
from helpers import check_exactly_once, count, kill_when, process_tree, run_cli, start_cli, wait_for, write

SWEEP = """
name: rs
objective: {metric: loss}
params:
  x: interval(-5.0, 5.0)
trial: {function: objectives:slowish}
search: {method: random}
n_trials: 30
workers: 2
seed: 1
"""


@pytest.mark.slow
def test_three_power_cuts_in_a_row_then_resume(workdir):
    write(workdir / "sweep.yaml", SWEEP)
    db = workdir / ".sweeps" / "sweeps.db"
    kill_when(start_cli(["launch", "sweep.yaml"], workdir), db, 4)
    for at in (10, 16):
        kill_when(start_cli(["resume", "rs"], workdir), db, at)
    p = run_cli(["resume", "rs"], workdir, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "were cut off by the interruption" in p.stdout
    check_exactly_once(workdir, "rs", 30)


@pytest.mark.slow
def test_grid_points_run_exactly_once_across_kills(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("interval(-5.0, 5.0)", "range(0, 12)").replace("{method: random}", "{method: grid}")
          .replace("n_trials: 30\n", ""))
    db = workdir / ".sweeps" / "sweeps.db"
    kill_when(start_cli(["launch", "sweep.yaml"], workdir), db, 3)
    kill_when(start_cli(["resume", "rs"], workdir), db, 7)
    run_cli(["resume", "rs"], workdir, check=True, timeout=300)
    trials = check_exactly_once(workdir, "rs", 12)
    points = sorted(t.params["x"] for t in trials if t.state.name == "COMPLETE")
    assert points == list(range(12))


def test_a_killed_worker_is_retried_and_continues_from_its_checkpoint(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("n_trials: 30", "n_trials: 3").replace("workers: 2", "workers: 1")
          .replace("{function: objectives:slowish}", "{function: objectives:checkpointed, retries: 1}"))
    db = workdir / ".sweeps" / "sweeps.db"
    proc = start_cli(["launch", "sweep.yaml"], workdir)
    pid_file = workdir / "worker.pid"  # the first trial writes its pid once it has a checkpoint, then waits
    wait_for(pid_file.exists, "worker.pid from the first trial", timeout=60, proc=proc)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert proc.wait(timeout=120) == 0
    study = optuna.load_study(study_name="rs", storage=f"sqlite:///{db}")
    trials = study.trials
    assert [t.state.name for t in trials].count("COMPLETE") == 3
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and "SIGKILL" in failed[0].user_attrs["sweeper.error"]
    retry = next(t for t in trials if t.user_attrs.get("sweeper.retry_of") == failed[0].number)
    assert retry.params == failed[0].params and retry.state.name == "COMPLETE"
    # the retry went on from the checkpoint: its steps continue where the killed attempt stopped
    assert min(retry.intermediate_values) > 0 and max(retry.intermediate_values) == 9
    assert min(retry.intermediate_values) <= max(failed[0].intermediate_values) + 1


@pytest.mark.slow
def test_resume_extends_budget_and_refuses_other_changes(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("n_trials: 30", "n_trials: 3").replace("objectives:slowish", "objectives:trivial"))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    p = run_cli(["resume", "rs", "n_trials=5"], workdir, check=True)
    study = optuna.load_study(study_name="rs", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert len(study.trials) == 5 and "3/5 trials already finished" in p.stdout
    status = run_cli(["status", "rs"], workdir, check=True).stdout
    assert status.splitlines()[0].endswith("of n_trials=5"), status  # the extended budget, not the first
    again = run_cli(["resume", "rs"], workdir, check=True)  # nothing missing: runs nothing
    assert len(optuna.load_study(study_name="rs", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db").trials) == 5
    assert "best loss=" in again.stdout
    changed = run_cli(["launch", "sweep.yaml", "--resume", "params.x=interval(0.0, 1.0)"], workdir)
    assert changed.returncode == 2 and "definition changed" in changed.stderr
    assert "interval(-5.0, 5.0)" in changed.stderr and "interval(0.0, 1.0)" in changed.stderr
    bad = run_cli(["resume", "rs", "seed=3"], workdir)
    assert bad.returncode == 2 and "only budget keys can change on resume" in bad.stderr


@pytest.mark.slow
def test_two_agents_share_one_sweep_without_overrunning_it(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("n_trials: 30", "n_trials: 20").replace("slowish", "joined"))
    db = workdir / ".sweeps" / "sweeps.db"
    first = start_cli(["launch", "sweep.yaml", "workers=1"], workdir)
    wait_for(lambda: count(db, "COMPLETE") >= 1, "COMPLETE trial of the first agent before the second joins",
             timeout=60, proc=first)
    first_pids = {str(p) for p in process_tree(first.pid)}  # the first agent's driver and its one worker
    # the first agent's worker now waits inside trial 1 for `go`: the second agent cannot find the
    # sweep over, however slowly it starts; `go` comes once one of its own workers is inside a trial
    second = start_cli(["agent", "rs"], workdir)
    wait_for(lambda: {p.name[3:] for p in workdir.glob("in.*")} - first_pids, "a trial in the second agent's worker",
             timeout=120, proc=second)
    (workdir / "go").touch()
    assert second.wait(timeout=300) == 0
    assert first.wait(timeout=300) == 0
    study = optuna.load_study(study_name="rs", storage=f"sqlite:///{db}")
    trials = study.trials
    states = [(t.number, t.state.name) for t in trials]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 20, states
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")], states
    # nothing beyond the budget: every trial counts but those an agent gave up unrun because the
    # other one took the last trial of the budget
    unrun = [t for t in trials if t.state.name == "FAIL" and t.user_attrs.get("sweeper.interrupted")
             and t.user_attrs.get("sweeper.no_retry")]
    assert len(trials) - len(unrun) == 20, states
    # no point ran twice: two agents sampling alike would repeat x values (the space is continuous)
    xs = [t.params["x"] for t in complete]
    assert len(set(xs)) == 20, sorted(xs)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("rs").experiment_id], max_results=1000)
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags and r.info.status == "FINISHED"]
    assert sorted(int(k.data.tags["trial.number"]) for k in kids) == sorted(t.number for t in complete)
    # both agents ran trials: some in the first agent's worker, some in a worker of the second
    pids = {k.data.tags["worker.pid"] for k in kids}
    assert pids & first_pids and pids - first_pids, (pids, first_pids)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_agents_on_postgresql(workdir, postgres_url):
    name = f"pg{int(time.time() * 1000) % 10**8}"
    write(workdir / "sweep.yaml", SWEEP.replace("name: rs", f"name: {name}").replace("n_trials: 30", "n_trials: 16")
          + f"storage: {postgres_url}\n")
    first = start_cli(["launch", "sweep.yaml"], workdir)

    def one_complete() -> bool:
        try:
            st = optuna.load_study(study_name=name, storage=postgres_url)
        except KeyError:  # not created yet
            return False
        return any(t.state.name == "COMPLETE" for t in st.get_trials(deepcopy=False))

    wait_for(one_complete, "COMPLETE trial of the first agent before the second joins", timeout=60, proc=first,
             interval=0.1)
    second = run_cli(["agent", name, "--storage", postgres_url], workdir, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.wait(timeout=300) == 0
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert [t.state.name for t in study.trials].count("COMPLETE") == 16
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    ls = run_cli(["ls", "--storage", postgres_url], workdir, check=True).stdout
    assert name in ls and "16/16" in ls
