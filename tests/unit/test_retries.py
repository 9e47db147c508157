"""RetryQueue: which failed trials run again, as what, rebuilt from the study on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from fakes import FakeBackend, FakeClock, RecordingTracker, Script, ScriptFn, make_spec
from optuna.distributions import FloatDistribution
from optuna.samplers import RandomSampler
from optuna.trial import TrialState, create_trial

from sweeper.driver import Driver
from sweeper.driver.retries import Attempt, RetryQueue
from sweeper.state import attrs

DIST = {"x": FloatDistribution(0.0, 1.0)}


def add(study: Any, x: float, state: TrialState = TrialState.FAIL, **user_attrs: Any) -> None:
    study.add_trial(create_trial(state=state, params={"x": x}, distributions=DIST,
                                 value=x if state == TrialState.COMPLETE else None, user_attrs=user_attrs))


def study_with_history() -> Any:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    add(study, 0.0, **{attrs.INTERRUPTED: True})  # 0: interrupted first attempt → re-run, attempt 0
    add(study, 0.1, **{attrs.RETRIED: True, attrs.ERROR: "crash"})  # 1: crashed, retry owed → attempt 1
    add(study, 0.2, **{attrs.INTERRUPTED: True, attrs.NO_RETRY: True})  # 2: nothing to re-run
    add(study, 0.3, **{attrs.RETRIED: True})  # 3: crashed, already retried by 4
    add(study, 0.3, TrialState.COMPLETE, **{attrs.RETRY_OF: 3, attrs.ATTEMPT_ROOT: 3, attrs.ATTEMPT: 1})  # 4
    add(study, 0.5, **{attrs.ERROR: "ValueError"})  # 5: a counted failure, no retry owed
    add(study, 0.6, **{attrs.RETRIED: True})  # 6: crashed, retried by 7
    add(study, 0.6, **{attrs.RETRIED: True, attrs.RETRY_OF: 6, attrs.ATTEMPT_ROOT: 6, attrs.ATTEMPT: 1})  # 7
    # 8: an interrupted retry of 7
    add(study, 0.6, **{attrs.INTERRUPTED: True, attrs.RETRY_OF: 7, attrs.ATTEMPT_ROOT: 6, attrs.ATTEMPT: 2})
    add(study, 0.8, TrialState.COMPLETE)  # 9
    add(study, 0.9, TrialState.RUNNING, **{attrs.INTERRUPTED: True})  # 10: still running: owed nothing
    return study


def test_restore_rebuilds_what_is_owed_in_trial_order() -> None:
    q = RetryQueue()
    q.restore(study_with_history().get_trials(deepcopy=False))
    assert q.items == [
        Attempt({"x": 0.0}, retry_of=0, root=0, attempt=0),  # interrupted: keeps its attempt count
        Attempt({"x": 0.1}, retry_of=1, root=1, attempt=1),  # retried crash: attempt + 1
        Attempt({"x": 0.6}, retry_of=8, root=6, attempt=2),  # an interrupted retry keeps its root and count
    ]
    assert q.queued() == {0, 1, 8}
    assert len(q) == 3


def test_restore_skips_no_retry_already_retried_counted_and_unfinished() -> None:
    q = RetryQueue()
    q.restore(study_with_history().get_trials(deepcopy=False))
    assert not {2, 3, 4, 5, 6, 7, 9, 10} & q.queued()


def test_restore_of_a_retried_retry_keeps_the_root_and_counts_up() -> None:
    study = optuna.create_study()
    add(study, 0.4, **{attrs.RETRIED: True})
    add(study, 0.4, **{attrs.RETRIED: True, attrs.RETRY_OF: 0, attrs.ATTEMPT_ROOT: 0, attrs.ATTEMPT: 1})
    q = RetryQueue()
    q.restore(study.get_trials(deepcopy=False))
    assert q.items == [Attempt({"x": 0.4}, retry_of=1, root=0, attempt=2)]


def test_restore_skips_a_trial_whose_retry_was_itself_interrupted() -> None:
    """Once 0's re-run (1) exists, 0 is settled: 1 carries the chain on."""
    study = optuna.create_study()
    add(study, 0.4, **{attrs.INTERRUPTED: True})
    add(study, 0.4, **{attrs.INTERRUPTED: True, attrs.RETRY_OF: 0, attrs.ATTEMPT_ROOT: 0, attrs.ATTEMPT: 0})
    q = RetryQueue()
    q.restore(study.get_trials(deepcopy=False))
    assert q.items == [Attempt({"x": 0.4}, retry_of=1, root=0, attempt=0)]


def test_pop_is_first_in_first_out_and_user_attrs_chain_back() -> None:
    q = RetryQueue()
    q.add({"x": 1}, retry_of=4, root=2, attempt=3)
    q.add({"x": 2}, retry_of=5, root=5, attempt=1)
    a = q.pop()
    assert a == Attempt({"x": 1}, 4, 2, 3)
    assert RetryQueue.user_attrs(a) == {attrs.RETRY_OF: 4, attrs.ATTEMPT_ROOT: 2, attrs.ATTEMPT: 3}
    assert q.pop() == Attempt({"x": 2}, 5, 5, 1)
    assert q.pop() is None


def test_add_copies_the_params() -> None:
    params = {"x": 1}
    q = RetryQueue()
    q.add(params, 0, 0, 1)
    params["x"] = 2
    assert q.items[0].params == {"x": 1}


def test_add_interrupted_queues_each_orphan_once_keeping_its_count() -> None:
    study = study_with_history()
    trials = study.get_trials(deepcopy=False)
    q = RetryQueue()
    q.add({"x": 0.0}, 0, 0, 0)  # 0 is queued already
    q.add_interrupted(trials, [0, 2, 8])
    # 0: already queued; 2: NO_RETRY; 8: queued with the count it had (an interruption is not a retry)
    assert q.items == [Attempt({"x": 0.0}, 0, 0, 0), Attempt({"x": 0.6}, retry_of=8, root=6, attempt=2)]


def driver_on(study: Any, tmp_path: Path, script: ScriptFn = lambda t: t.params["x"],
              **spec_over: Any) -> tuple[Driver, FakeBackend]:
    spec = make_spec(tmp_path, **spec_over)
    clock = FakeClock()
    backend = FakeBackend(1, script, clock)
    driver = Driver(spec, study, study._storage, backend, RecordingTracker(spec), None, clock=clock.now,
                    sleep=clock.sleep)
    return driver, backend


def test_the_driver_reruns_an_interrupted_trial_first_outside_the_budget(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    add(study, 0.25, **{attrs.INTERRUPTED: True, attrs.ATTEMPT_ROOT: 0, attrs.ATTEMPT: 1})
    add(study, 0.5, TrialState.COMPLETE)
    driver, backend = driver_on(study, tmp_path, n_trials=3, trial={"retries": 2})
    assert driver.run().state == "FINISHED"
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    t2, t3 = trials[2:]
    assert t2.params == {"x": 0.25}
    assert [t2.user_attrs[k] for k in (attrs.RETRY_OF, attrs.ATTEMPT_ROOT, attrs.ATTEMPT)] == [0, 0, 1]
    assert attrs.RETRY_OF not in t3.user_attrs
    assert [t.state for t in trials[2:]] == [TrialState.COMPLETE] * 2
    assert backend.task(2).env["SWEEPER_CHECKPOINT_DIR"].endswith("trial-0")
    assert (driver.finished, driver.complete) == (3, 3)  # the interruption does not count, its re-run does


def test_the_driver_owes_a_retried_crash_its_retry_on_resume(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    add(study, 0.75, **{attrs.RETRIED: True, attrs.ERROR: "segfault"})
    driver, backend = driver_on(study, tmp_path, n_trials=2, trial={"retries": 2})
    driver.run()
    t1 = study.get_trials(deepcopy=False)[1]
    assert t1.params == {"x": 0.75}
    assert (t1.user_attrs[attrs.RETRY_OF], t1.user_attrs[attrs.ATTEMPT]) == (0, 1)
    assert t1.state == TrialState.COMPLETE


def test_a_retried_crash_counts_the_same_live_and_on_resume(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    live, _ = driver_on(study, tmp_path, lambda t: Script(die="segfault") if t.number == 0 else t.params["x"],
                        n_trials=2, trial={"retries": 1})
    assert live.run().state == "FINISHED"
    assert (live.finished, live.failed) == (2, 0)  # 0 crashed and was retried as 1; 2 ran fresh
    resumed, backend = driver_on(study, tmp_path, n_trials=3, trial={"retries": 1})
    assert resumed.run().state == "FINISHED"
    assert backend.numbers == [3]  # one more trial for n_trials=3
    assert (resumed.finished, resumed.failed) == (3, 0)


def test_a_retry_left_waiting_in_the_study_keeps_its_first_attempts_checkpoints(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    add(study, 0.3, **{attrs.RETRIED: True})
    # the driver enqueued 0's retry, then died before asking for it
    study.enqueue_trial({"x": 0.3}, user_attrs={attrs.RETRY_OF: 0, attrs.ATTEMPT_ROOT: 0, attrs.ATTEMPT: 1})
    driver, backend = driver_on(study, tmp_path, n_trials=3, trial={"retries": 1})
    driver.run()
    assert backend.task(1).params == {"x": 0.3}  # the waiting retry was run (this part holds today)
    assert backend.task(1).env["SWEEPER_CHECKPOINT_DIR"].endswith("trial-0")
