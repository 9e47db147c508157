"""Kill a sweep anywhere (SIGKILL of every process, as a power cut), resume it, lose nothing."""

from __future__ import annotations

import sqlite3
import time

import mlflow
import optuna
from conftest import power_cut, run_cli, start_cli, write

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


def count(db, state: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return c.execute("select count(*) from trials where state=?", (state,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_when(proc, db, complete: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while count(db, "COMPLETE") < complete:
        assert proc.poll() is None, "the sweep ended before the kill"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    time.sleep(0.3)
    power_cut(proc.pid)
    proc.wait()


def check_exactly_once(workdir, name: str, n: int) -> list[optuna.trial.FrozenTrial]:
    db = workdir / ".sweeps" / "sweeps.db"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    trials = study.trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    interrupted = [t for t in trials if t.user_attrs.get("sweeper.interrupted")]
    assert len(complete) == n and not [t for t in trials if t.state.name == "RUNNING"]
    assert interrupted, "the kills did not land mid-trial"
    done_params = [t.params for t in complete]
    # re-run with the same params; only a trial cut off before the grid gave it a point has none
    assert all(t.params in done_params or (t.user_attrs.get("sweeper.no_retry") and not t.params) for t in interrupted)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    finished = [k for k in kids if k.info.status == "FINISHED"]
    assert sorted(int(k.data.tags["trial.number"]) for k in finished) == sorted(t.number for t in complete)
    killed = {int(k.data.tags["trial.number"]) for k in kids if k.info.status == "KILLED"}
    assert killed == {t.number for t in interrupted}
    assert not [k for k in kids if k.info.status == "RUNNING"]
    retries = [k for k in kids if k.data.tags.get("trial.retry_of")]
    assert len(retries) >= len([t for t in interrupted if not t.user_attrs.get("sweeper.no_retry")])
    return trials


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
    deadline = time.monotonic() + 60
    pid_file = workdir / "worker.pid"
    while not pid_file.exists():  # the first trial writes its pid once it has a checkpoint
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    import os
    import signal

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


def test_resume_extends_budget_and_refuses_other_changes(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("n_trials: 30", "n_trials: 3").replace("objectives:slowish", "objectives:trivial"))
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    p = run_cli(["resume", "rs", "n_trials=5"], workdir, check=True)
    study = optuna.load_study(study_name="rs", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    assert len(study.trials) == 5 and "3/5 trials already finished" in p.stdout
    again = run_cli(["resume", "rs"], workdir, check=True)  # nothing missing: runs nothing
    assert len(optuna.load_study(study_name="rs", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db").trials) == 5
    assert "best loss=" in again.stdout
    changed = run_cli(["launch", "sweep.yaml", "--resume", "params.x=interval(0.0, 1.0)"], workdir)
    assert changed.returncode == 2 and "definition changed" in changed.stderr
    assert "interval(-5.0, 5.0)" in changed.stderr and "interval(0.0, 1.0)" in changed.stderr
    bad = run_cli(["resume", "rs", "seed=3"], workdir)
    assert bad.returncode == 2 and "only budget keys can change on resume" in bad.stderr


def test_two_agents_share_one_sweep_without_overrunning_it(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("n_trials: 30", "n_trials: 20"))
    db = workdir / ".sweeps" / "sweeps.db"
    first = start_cli(["launch", "sweep.yaml", "workers=1"], workdir)  # slow enough for the agent to join
    deadline = time.monotonic() + 60
    while count(db, "COMPLETE") < 1:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = run_cli(["agent", "rs"], workdir, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.wait(timeout=300) == 0
    study = optuna.load_study(study_name="rs", storage=f"sqlite:///{db}")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 20
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    # both agents ran trials; none ran a trial twice or beyond the budget
    hosts = {t.number for t in complete}
    assert len(hosts) == 20
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("rs").experiment_id], max_results=1000)
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags and r.info.status == "FINISHED"]
    assert len(kids) == 20 and len({k.data.tags["worker.pid"] for k in kids}) >= 2  # the agent ran some


def test_two_agents_on_postgresql(workdir, postgres_url):
    name = f"pg{int(time.time() * 1000) % 10**8}"
    write(workdir / "sweep.yaml", SWEEP.replace("name: rs", f"name: {name}").replace("n_trials: 30", "n_trials: 16")
          + f"storage: {postgres_url}\n")
    first = start_cli(["launch", "sweep.yaml"], workdir)
    deadline = time.monotonic() + 60
    while True:
        try:
            st = optuna.load_study(study_name=name, storage=postgres_url)
            if [t for t in st.trials if t.state.name == "COMPLETE"]:
                break
        except KeyError:
            pass
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    second = run_cli(["agent", name, "--storage", postgres_url], workdir, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.wait(timeout=300) == 0
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert [t.state.name for t in study.trials].count("COMPLETE") == 16
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    ls = run_cli(["ls", "--storage", postgres_url], workdir, check=True).stdout
    assert name in ls and "16/16" in ls
