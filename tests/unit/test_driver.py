"""The Driver against a scripted backend, a fake clock and a real Optuna study."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from fakes import (
    FakeBackend,
    FakeClock,
    RecordingTracker,
    Script,
    ScriptFn,
    complete,
    default_script,
    make_spec,
    sqlite_storage,
)
from optuna.distributions import FloatDistribution
from optuna.pruners import BasePruner, MedianPruner
from optuna.samplers import RandomSampler
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from sweeper.config.spec import SweepSpec
from sweeper.driver import Driver, SweepOutcome
from sweeper.driver import loop as driver_loop
from sweeper.messages import FAIL, PRUNED, TrialOutcome
from sweeper.state import attrs, store


class AlwaysPrune(BasePruner):
    def prune(self, study: Any, trial: Any) -> bool:
        return True


@dataclass
class Rig:
    spec: SweepSpec
    study: Any
    storage: Any
    backend: FakeBackend
    clock: FakeClock
    tracker: RecordingTracker
    driver: Driver

    def run(self) -> SweepOutcome:
        return self.driver.run()

    def trials(self) -> list[Any]:
        return self.study.get_trials(deepcopy=False)


def rig(tmp_path: Path, script: ScriptFn = default_script, n: int = 1, pruner: Any = None,
        sqlite: bool = False, study: Any = None, **spec_over: Any) -> Rig:
    spec = make_spec(tmp_path, **spec_over)
    clock = FakeClock()
    backend = FakeBackend(n, script, clock)
    if study is not None:
        storage = study._storage
    elif sqlite:
        storage = sqlite_storage(tmp_path)
        study = store.create(storage, spec.name, spec.directions, RandomSampler(seed=0), pruner, {})
    else:
        study = optuna.create_study(directions=spec.directions, sampler=RandomSampler(seed=0), pruner=pruner)
        storage = study._storage
    tracker = RecordingTracker(spec)
    driver = Driver(spec, study, storage, backend, tracker, pruner, clock=clock.now, sleep=clock.sleep)
    return Rig(spec, study, storage, backend, clock, tracker, driver)


def by_number(values: dict[int, Any], default: ScriptFn = default_script) -> ScriptFn:
    """A script that does `values[number]` for the trials listed, `default` for the others."""
    return lambda task: values[task.number] if task.number in values else default(task)


# --- the budget -------------------------------------------------------------------------------
@pytest.mark.parametrize("slots", [1, 2, 3, 7])
def test_n_trials_is_honoured_exactly(tmp_path: Path, slots: int) -> None:
    # trials of different lengths, so slots free up out of order
    r = rig(tmp_path, lambda t: Script(outcome=complete(t.params["x"]), duration=(t.number % 3) * 0.5),
            n=slots, n_trials=5)
    outcome = r.run()
    assert outcome.state == "FINISHED"
    trials = r.trials()
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.values[0] for t in trials] == [t.params["x"] for t in trials]
    assert sorted(r.backend.numbers) == [0, 1, 2, 3, 4]
    assert r.backend.max_busy == min(slots, 5)
    assert (r.driver.finished, r.driver.complete, r.driver.failed) == (5, 5, 0)
    assert len(r.tracker.finished) == 5


def test_run_on_a_sqlite_study_writes_every_result_to_the_database(tmp_path: Path) -> None:
    r = rig(tmp_path, n=2, sqlite=True, n_trials=4)
    assert r.run().state == "FINISHED"
    url = f"sqlite:///{tmp_path}/s.db"
    fresh = optuna.load_study(study_name="u", storage=RDBStorage(url))  # a reader that shares no cache
    trials = fresh.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [t.value for t in trials] == [t.params["x"] for t in trials]


def test_resume_counts_the_trials_already_in_the_study(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    dist = {"x": FloatDistribution(0.0, 1.0)}
    study.add_trial(create_trial(params={"x": 0.2}, distributions=dist, value=0.2))
    study.add_trial(create_trial(params={"x": 0.7}, distributions=dist, value=0.7))
    r = rig(tmp_path, lambda t: 0.5, study=study, n_trials=3)
    assert r.run().state == "FINISHED"
    assert r.backend.numbers == [2]  # only the one trial the budget still allows
    assert (r.driver.finished, r.driver.complete) == (3, 3)
    (tf,) = r.tracker.finished
    assert tf.best is not None and not tf.best.improved and tf.best.number == 0  # 0.2 from before still wins


# --- failures ---------------------------------------------------------------------------------
def test_failed_trial_is_recorded_with_its_error_and_counted(tmp_path: Path) -> None:
    boom = TrialOutcome(state=FAIL, metrics={"loss": 9.0}, error="ValueError: boom", last_step=3)
    r = rig(tmp_path, by_number({1: boom}), n_trials=3)
    assert r.run().state == "FINISHED"
    trials = r.trials()
    assert len(trials) == 3  # a failure counts towards n_trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs[attrs.ERROR] == "ValueError: boom"
    assert attrs.RETRIED not in trials[1].user_attrs and attrs.INTERRUPTED not in trials[1].user_attrs
    assert (r.driver.failed, r.driver.finished) == (1, 3)
    assert store.counts(trials).failed == 1
    tf = r.tracker.finished[1]
    assert (tf.state, tf.status, tf.best) == (FAIL, "FAILED", None)
    assert tf.tags["trial.error"] == "ValueError: boom"
    assert (tf.metrics, tf.step, tf.tags["trial.last_step"]) == ({"loss": 9.0}, 3, "3")


def test_a_died_trial_fails_with_the_backends_reason(tmp_path: Path) -> None:
    why = "worker died: killed by signal 9 (SIGKILL)\n...stderr tail: Killed"
    r = rig(tmp_path, by_number({0: Script(die=why)}), n_trials=2)
    assert r.run().state == "FINISHED"
    t0 = r.trials()[0]
    assert t0.state == TrialState.FAIL
    assert t0.user_attrs[attrs.ERROR] == why
    assert r.driver.failed == 1
    assert r.tracker.finished[0].status == "FAILED"
    assert r.tracker.finished[0].tags["trial.error"] == why


@pytest.mark.parametrize("metrics, message", [
    ({"acc": 0.9}, "the trial returned no value for objective metric 'loss' (got: acc)"),
    ({}, "the trial returned no value for objective metric 'loss' (got: nothing)"),
    ({"loss": math.nan}, "objective metric 'loss' is nan"),
    ({"loss": math.inf}, "objective metric 'loss' is inf"),
])
def test_a_missing_or_non_finite_objective_fails_the_trial_clearly(tmp_path: Path, metrics: dict[str, float],
                                                                   message: str) -> None:
    r = rig(tmp_path, by_number({0: TrialOutcome(state="COMPLETE", metrics=metrics)}), n_trials=2)
    assert r.run().state == "FINISHED"
    t0 = r.trials()[0]
    assert t0.state == TrialState.FAIL
    assert t0.user_attrs[attrs.ERROR] == message
    assert (r.driver.failed, r.driver.complete) == (1, 1)
    assert r.tracker.finished[0].tags["trial.error"] == message


def test_max_failures_stops_the_sweep_as_failed(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: TrialOutcome(state=FAIL, error="RuntimeError: always"),
            n_trials=10, max_failures=1)
    outcome = r.run()
    assert outcome.state == "FAILED"
    assert "2 trials failed, more than max_failures=1" in outcome.message
    assert len(r.trials()) == 2  # no trial is started once the limit is passed


def test_a_sweep_where_nothing_completed_fails(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: TrialOutcome(state=FAIL, error="E"), n_trials=2)
    outcome = r.run()
    assert (outcome.state, outcome.message) == ("FAILED", "no trial completed")


# --- retries ----------------------------------------------------------------------------------
def test_a_crash_is_retried_once_with_the_same_params_chained_to_its_first_attempt(tmp_path: Path) -> None:
    # on SQLite behind sweeper's read cache: the retry goes through enqueue_trial there
    r = rig(tmp_path, by_number({0: Script(die="segfault")}), sqlite=True, n_trials=2, trial={"retries": 1})
    assert r.run().state == "FINISHED"
    t0, t1, t2 = r.trials()
    assert t0.state == TrialState.FAIL and t0.user_attrs[attrs.RETRIED] is True
    assert t1.state == TrialState.COMPLETE
    assert t1.params == t0.params
    assert [t1.user_attrs[k] for k in (attrs.RETRY_OF, attrs.ATTEMPT_ROOT, attrs.ATTEMPT)] == [0, 0, 1]
    assert t2.state == TrialState.COMPLETE and attrs.RETRY_OF not in t2.user_attrs
    assert (r.driver.finished, r.driver.failed) == (2, 0)  # the retried crash does not count
    # every attempt shares the first attempt's checkpoint folder
    assert r.backend.task(1).env["SWEEPER_CHECKPOINT_DIR"] == r.backend.task(0).env["SWEEPER_CHECKPOINT_DIR"]
    assert r.backend.task(1).env["SWEEPER_CHECKPOINT_DIR"].endswith("trial-0")
    assert r.backend.task(1).params == r.backend.task(0).params
    started = {args[0]: args[2] for args in r.tracker.of("trial_started")}
    assert started[1]["trial.retry_of"] == "0" and "trial.retry_of" not in started[2]
    assert r.tracker.finished[0].status == "FAILED"


def test_a_retry_that_crashes_again_is_not_retried_and_counts(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: Script(die="crash"), n_trials=1, trial={"retries": 1})
    outcome = r.run()
    assert (outcome.state, outcome.message) == ("FAILED", "no trial completed")
    t0, t1 = r.trials()
    assert t0.user_attrs.get(attrs.RETRIED) is True
    assert t1.user_attrs[attrs.RETRY_OF] == 0 and t1.user_attrs[attrs.ATTEMPT] == 1
    assert attrs.RETRIED not in t1.user_attrs
    assert (r.driver.finished, r.driver.failed) == (1, 1)


# --- time -------------------------------------------------------------------------------------
def test_a_trial_past_its_timeout_is_killed_and_fails(tmp_path: Path) -> None:
    r = rig(tmp_path, by_number({0: Script()}), n_trials=2, trial={"timeout": 5})  # trial 0 hangs
    t_start = r.clock.now()
    killed_at: list[float] = []
    kill = r.backend.kill

    def timed_kill(slot: int, why: str) -> None:
        killed_at.append(r.clock.now())
        kill(slot, why)

    r.backend.kill = timed_kill  # type: ignore[method-assign]
    assert r.run().state == "FINISHED"
    assert r.backend.kills == [(0, 0, "timed out after 5 s (trial.timeout)")]
    assert len(killed_at) == 1 and 5 < killed_at[0] - t_start <= 5 + 2 * driver_loop.WAIT_S
    t0, t1 = r.trials()
    assert t0.state == TrialState.FAIL
    assert t0.user_attrs[attrs.ERROR] == "timed out after 5 s (trial.timeout)"
    assert t1.state == TrialState.COMPLETE
    assert r.driver.failed == 1


def test_no_timeout_means_no_kill_however_long(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: Script(outcome=complete(0.5), duration=300.0), n_trials=1)
    assert r.run().state == "FINISHED"
    assert r.backend.kills == []
    assert r.clock.now() >= 1000.0 + 300.0


# --- pruning ----------------------------------------------------------------------------------
def test_a_pruned_report_is_answered_and_the_trial_ends_pruned(tmp_path: Path) -> None:
    pruner = AlwaysPrune()
    reports = [(1, {"loss": 0.9}), (2, {"loss": 0.8})]
    r = rig(tmp_path, lambda t: Script(outcome=complete(0.5), reports=reports), pruner=pruner, n_trials=2)
    assert r.run().state == "FAILED"  # nothing completed
    assert all(task.wait_decision for _, task in r.backend.submitted)
    assert r.backend.replies == [(0, 0, True), (0, 1, True)]  # one report each: the first is pruned
    for t in r.trials():
        assert t.state == TrialState.PRUNED
        assert t.intermediate_values == {1: 0.9}
    assert (r.driver.pruned, r.driver.finished, r.driver.failed) == (2, 2, 0)
    assert r.tracker.of("trial_reported") == [(0, 1, {"loss": 0.9}), (1, 1, {"loss": 0.9})]
    tf = r.tracker.finished[0]
    assert (tf.state, tf.status, tf.step, tf.best) == (PRUNED, "FINISHED", 1, None)


def test_median_pruner_prunes_the_bad_trial_and_lets_the_good_ones_finish(tmp_path: Path) -> None:
    pruner = MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    curves = {0: [0.3, 0.2, 0.1], 1: [0.9, 0.8, 0.7], 2: [0.05, 0.04, 0.03]}

    def script(task: Any) -> Script:
        c = curves[task.number]
        return Script(outcome=complete(c[-1]), reports=[(s, {"loss": v}) for s, v in enumerate(c, 1)])

    r = rig(tmp_path, script, pruner=pruner, n_trials=3)
    assert r.run().state == "FINISHED"
    assert [t.state for t in r.trials()] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert r.backend.replies == [(0, 0, False)] * 3 + [(0, 1, True)] + [(0, 2, False)] * 3
    assert r.trials()[1].intermediate_values == {1: 0.9}
    assert r.driver.best_number == 2 and r.driver.best_value == 0.03


def test_without_a_pruner_reports_get_no_reply(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: Script(outcome=complete(0.5), reports=[(1, {"loss": 0.6})]), n_trials=1)
    assert r.run().state == "FINISHED"
    assert r.backend.replies == []
    assert not r.backend.task(0).wait_decision
    assert r.trials()[0].intermediate_values == {1: 0.6}


def test_a_trial_that_never_reports_under_a_pruner_is_flagged(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: 0.5, pruner=MedianPruner(), n_trials=1)
    assert r.run().state == "FINISHED"
    assert "never called sweeper.report" in r.tracker.finished[0].tags["trial.warning"]


# --- interruption -----------------------------------------------------------------------------
def stop_when_running(r: Rig, numbers: list[int]) -> None:
    def hook(b: FakeBackend) -> None:
        if b.running_numbers() == numbers:
            r.driver.stop_requested = True
    r.backend.on_wait = hook


def test_stop_requested_kills_the_running_trials_and_marks_them_interrupted(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: Script(), n=2, n_trials=5)  # every trial runs until killed
    stop_when_running(r, [0, 1])
    outcome = r.run()
    assert (outcome.state, outcome.message) == ("KILLED", "interrupted")
    assert sorted(r.backend.kills) == [(0, 0, "interrupted"), (1, 1, "interrupted")]
    trials = r.trials()
    assert len(trials) == 2
    for t in trials:
        assert t.state == TrialState.FAIL
        assert t.user_attrs[attrs.INTERRUPTED] is True
        assert attrs.RETRIED not in t.user_attrs
    c = store.counts(trials)
    assert (c.interrupted, c.failed) == (2, 0)
    assert (r.driver.failed, r.driver.finished) == (0, 0)  # interruptions do not count
    assert [tf.status for tf in r.tracker.finished] == ["KILLED", "KILLED"]
    assert all(tf.tags["trial.interrupted"] == "true" for tf in r.tracker.finished)


def test_interrupt_keeps_a_result_that_made_it_and_gives_up_on_a_hung_trial(tmp_path: Path) -> None:
    scripts = {0: Script(on_kill=complete(0.25)), 1: Script(ignore_kill=True)}
    r = rig(tmp_path, by_number(scripts), n=2, n_trials=5)
    stop_when_running(r, [0, 1])
    t_before = r.clock.now()
    assert r.run().state == "KILLED"
    t0, t1 = r.trials()
    assert t0.state == TrialState.COMPLETE and t0.value == 0.25
    assert t1.state == TrialState.FAIL and t1.user_attrs[attrs.INTERRUPTED] is True
    # the hung trial was waited for during the grace period (fake seconds), then given up
    assert r.clock.now() - t_before >= driver_loop.INTERRUPT_GRACE_S
    assert r.driver.complete == 1


def test_a_trial_can_be_ended_on_demand(tmp_path: Path) -> None:
    """The fake backend's on-demand mode: trials run until the test ends them."""
    r = rig(tmp_path, lambda t: Script(), n=2, n_trials=3)

    def hook(b: FakeBackend) -> None:
        running = b.running_numbers()
        if running == [0, 1]:
            b.finish(1, complete(0.1))
        elif running == [0, 2]:
            b.crash(0, "oom")
        elif running == [2]:
            b.finish(2, complete(0.2))
    r.backend.on_wait = hook
    assert r.run().state == "FINISHED"
    assert [t.state for t in r.trials()] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert r.trials()[0].user_attrs[attrs.ERROR] == "oom"
    assert [tf.number for tf in r.tracker.finished] == [1, 0, 2]


# --- what the tracker hears -------------------------------------------------------------------
@pytest.mark.parametrize("goal, improved, best_numbers", [
    ("minimize", [True, True, False, True, False], [0, 1, 1, 3, 3]),
    ("maximize", [True, False, False, False, False], [0, 0, 0, 0, 0]),
])
def test_the_tracker_hears_each_trial_and_where_the_best_stands(
        tmp_path: Path, goal: str, improved: list[bool], best_numbers: list[int]) -> None:
    values = [0.5, 0.3, 0.4, 0.1, 0.2]

    def script(task: Any) -> Script:
        v = values[task.number]
        out = TrialOutcome(state="COMPLETE", metrics={"loss": v, "acc": 1 - v},
                           config_yaml=f"x: {task.params['x']}\n")
        return Script(outcome=out, reports=[(1, {"loss": v + 1}), (2, {"loss": v})])

    r = rig(tmp_path, script, n_trials=5, objective={"goal": goal})
    assert r.run().state == "FINISHED"
    trials = r.trials()
    # per trial, in order: started, reported twice, finished
    assert r.tracker.methods() == ["prepare"] + ["trial_hooks", "trial_started", "trial_reported", "trial_reported",
                                                 "trial_finished"] * 5
    for (number, params, tags), t in zip(r.tracker.of("trial_started"), trials, strict=True):
        assert number == t.number and params == t.params
        assert (tags["worker.host"], tags["worker.pid"], tags["worker.slot"]) == ("fakehost", "1000", "0")
    assert r.tracker.of("trial_reported")[:2] == [(0, 1, {"loss": 1.5}), (0, 2, {"loss": 0.5})]
    finished = r.tracker.finished
    assert [tf.number for tf in finished] == [0, 1, 2, 3, 4]
    assert [tf.best.improved for tf in finished if tf.best] == improved
    assert [tf.best.number for tf in finished if tf.best] == best_numbers
    assert [tf.best.n_finished for tf in finished if tf.best] == [1, 2, 3, 4, 5]
    for tf, t in zip(finished, trials, strict=True):
        b = tf.best
        assert b is not None
        assert b.values == [values[b.number]]
        assert b.params == (t.params if b.improved else {})
        assert b.config_yaml == (f"x: {t.params['x']}\n" if b.improved else None)
        assert (tf.state, tf.status, tf.step) == ("COMPLETE", "FINISHED", 2)
        # the objective was already logged at step 2: only what is new goes with the end
        assert tf.metrics == {"acc": 1 - values[t.number]}
        assert tf.out_dir is not None and tf.out_dir.endswith(f"trials/{t.number}")
        assert tf.tags["trial.state"] == "COMPLETE" and tf.tags["trial.last_step"] == "2"
    assert r.driver.best_number == best_numbers[-1]


# --- drivers sharing a sweep ------------------------------------------------------------------
def test_after_a_peer_driver_leaves_the_budget_still_counts_the_trials_it_ran(tmp_path: Path) -> None:
    """An agent that ran some of the budget and left: its trials still count (two agents on
    PostgreSQL had run 17 of 16 trials when the first went back to counting only its own)."""
    import time

    from sweeper.state import coordination

    study = optuna.create_study(sampler=RandomSampler(seed=0))
    peer_key = coordination.PREFIX + "peer"
    study.set_user_attr(peer_key, {"host": "otherhost", "pid": 1, "expires": time.time() + 600,
                                   "trials": [], "id": "peer"})

    def script(task: Any) -> Script:
        if task.number == 1:  # meanwhile the peer ran two trials and left
            for x in (0.5, 0.6):
                study.add_trial(create_trial(params={"x": x}, distributions={"x": FloatDistribution(0, 1)},
                                             value=x))
            study.set_user_attr(peer_key, {"released": True})
        return Script(outcome=complete(float(task.params["x"])), duration=1.5)

    r = rig(tmp_path, script, study=study, n_trials=6)
    r.driver.lease = coordination.Lease(study)
    assert r.run().state == "FINISHED"
    assert [t.state for t in r.trials()].count(TrialState.COMPLETE) == 6
    assert len(r.backend.submitted) == 4


def test_a_trackers_view_hooks_travel_with_the_task_and_their_refs_come_back_before_reports(tmp_path: Path) -> None:
    def script(task: Any) -> Script:
        return Script(outcome=complete(float(task.params["x"])), reports=[(1, {"loss": 1.0})])

    r = rig(tmp_path, script, n_trials=3)
    r.tracker.hooks = True
    assert r.run().state == "FINISHED"
    for _, task in r.backend.submitted:
        assert [(h.tracker, h.target, h.args) for h in task.views] == [
            ("recording", "views_mod:open_view", {"number": task.number})]
    # the hook is asked before the trial starts, with the tags its run gets; its ref comes back first
    per_trial = ["trial_hooks", "trial_started", "trial_opened", "trial_reported", "trial_finished"]
    assert r.tracker.methods() == ["prepare"] + per_trial * 3
    assert r.tracker.of("trial_opened") == [(n, {"recording": f"recording-ref-{n}"}) for n in range(3)]
    number, tags = r.tracker.of("trial_hooks")[0]
    assert number == 0 and tags["worker.host"] == "fakehost"


def test_trial_timeout_counts_from_when_the_worker_opened_the_views(tmp_path: Path) -> None:
    """Opening a trial's MLflow run (the worker's first MLflow import) is not the trial's time."""
    r = rig(tmp_path, lambda t: Script(outcome=complete(0.5), duration=4.0, open_s=5.0), n_trials=2,
            trial={"function": "mod:fn", "timeout": 4.5})
    r.tracker.hooks = True
    assert r.run().state == "FINISHED"
    assert r.backend.kills == [] and all(t.state == TrialState.COMPLETE for t in r.trials())


def test_a_worker_that_never_opens_the_views_is_killed_after_the_grace_and_the_timeout(tmp_path: Path) -> None:
    r = rig(tmp_path, lambda t: Script(outcome=complete(0.5), open_s=1e9), n_trials=1, max_failures=5,
            trial={"function": "mod:fn", "timeout": 2.0, "retries": 0})
    r.tracker.hooks = True
    r.run()
    assert [(n, why) for _, n, why in r.backend.kills] == [(0, "timed out after 2 s (trial.timeout)")]
    assert r.clock.now() - 1000.0 >= driver_loop.VIEW_OPEN_S + 2.0


def test_the_report_spending_the_last_budget_step_lets_its_trial_complete(tmp_path: Path) -> None:
    """budget.steps=6, one worker, trials of 3 reported steps: the second trial's last report spends
    the 6th step, so it completes (it used to be stopped there, a finished trial thrown away); a
    third trial never starts."""
    three = lambda t: Script(outcome=complete(t.params["x"]),  # noqa: E731
                             reports=[(s, {"loss": 1.0 / s}) for s in (1, 2, 3)])
    r = rig(tmp_path, three, n_trials=10, budget={"steps": 6})
    outcome = r.run()
    assert outcome.state == "FINISHED" and "budget.steps" in (outcome.message or "")
    trials = r.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert [len(t.intermediate_values) for t in trials] == [3, 3]


def test_a_report_beyond_the_steps_budget_stops_its_trial(tmp_path: Path) -> None:
    """budget.steps=5, trials of 3 steps: the second trial's 2nd report spends the last step and it
    goes on; its 3rd, a step beyond the budget, stops it (PRUNED, stopped by the budget)."""
    three = lambda t: Script(outcome=complete(t.params["x"]),  # noqa: E731
                             reports=[(s, {"loss": 1.0 / s}) for s in (1, 2, 3)])
    r = rig(tmp_path, three, n_trials=10, budget={"steps": 5})
    assert r.run().state == "FINISHED"
    first, second = r.trials()
    assert first.state == TrialState.COMPLETE
    assert second.state == TrialState.PRUNED and second.user_attrs[attrs.STOPPED_BY] == "budget.steps"
    assert len(second.intermediate_values) == 3
