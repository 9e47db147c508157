"""search.configure in the driver: define-by-run params reach the task and the study, a raise fails
its trial alone, and a retried trial gets back the very params configure drew for it."""

from __future__ import annotations

from pathlib import Path

import optuna
from fakes import FakeBackend, FakeClock, RecordingTracker, Script, complete, make_spec
from optuna.samplers import RandomSampler

from sweeper.driver import Driver
from sweeper.state import attrs

SPACE = '''
def configure(cfg, trial):
    if trial.number == 3:
        raise RuntimeError("no space for trial 3")
    if trial.params["x"] > 0:  # conditional: depth exists only for a positive x
        trial.suggest_int("depth", 1, 4)
    trial.suggest_float("lr", cfg.lr_min, 1.0, log=True)
'''


def run(tmp_path: Path, module: str, script, **over):
    (tmp_path / f"{module}.py").write_text(SPACE)
    spec = make_spec(tmp_path, params={"x": "interval(-1.0, 1.0)", "lr_min": 0.001},
                     search={"method": "random", "configure": f"{module}:configure"}, **over)
    clock = FakeClock()
    backend = FakeBackend(1, script, clock)
    study = optuna.create_study(sampler=RandomSampler(seed=1))
    tasks = []

    def recorded(task):
        tasks.append(task)
        return script(task)

    backend.script = recorded
    driver = Driver(spec, study, study._storage, backend, RecordingTracker(spec), None, clock=clock.now,
                    sleep=clock.sleep)
    return driver.run(), study.get_trials(), tasks


def test_define_by_run_params_reach_the_task_and_the_study_and_a_raise_fails_alone(tmp_path):
    outcome, trials, tasks = run(tmp_path, "space_a", lambda t: complete(t.params["lr"]), n_trials=6)
    assert outcome.state == "FINISHED" and len(trials) == 6
    assert trials[3].state.name == "FAIL"
    assert trials[3].user_attrs[attrs.ERROR] == "search.configure raised RuntimeError: no space for trial 3"
    assert [t.number for t in tasks] == [0, 1, 2, 4, 5]  # trial 3 never reached a worker
    for task in tasks:
        t = trials[task.number]
        assert task.params == {"x": t.params["x"], "lr_min": 0.001, **{k: t.params[k] for k in ("depth", "lr")
                                                                        if k in t.params}}
        assert ("depth" in t.params) == (t.params["x"] > 0) and 0.001 <= t.params["lr"] <= 1.0
        assert t.state.name == "COMPLETE" and t.value == t.params["lr"]


def test_a_retried_trial_gets_back_its_define_by_run_params(tmp_path):
    script = {0: Script(die="killed")}
    outcome, trials, tasks = run(tmp_path, "space_b", lambda t: script.get(t.number, complete(t.params["lr"])),
                                 n_trials=2, trial={"retries": 1})
    retry = [t for t in trials if t.user_attrs.get(attrs.RETRY_OF) == 0]
    assert outcome.state == "FINISHED" and len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].params == trials[0].params and "lr" in trials[0].params
