"""OwnTrialsCache: the trials this process runs are read from memory, the rest refreshed at most every
refresh_s; every write still reaches the database at once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from fakes import FakeClock, sqlite_url
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import RandomSampler
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from sweeper.state import optuna_private
from sweeper.state.optuna_private import OwnTrialsCache

DISTS = {"x": FloatDistribution(0.0, 1.0), "n": IntDistribution(1, 5),
         "act": CategoricalDistribution(["a", "b"])}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The cache's monotonic clock, moved only by the test."""
    c = FakeClock()
    monkeypatch.setattr(optuna_private, "time", SimpleNamespace(monotonic=c.now))
    return c


@pytest.fixture
def url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


def open_cache(url: str, refresh_s: float = 3600.0) -> tuple[OwnTrialsCache, Any]:
    cache = OwnTrialsCache(RDBStorage(url), refresh_s=refresh_s)
    study = optuna.create_study(storage=cache, study_name="c", sampler=RandomSampler(seed=0))
    return cache, study


def other_process(url: str) -> Any:
    """Another driver on the same sweep: its own storage, sharing nothing with ours."""
    return optuna.load_study(study_name="c", storage=RDBStorage(url), sampler=RandomSampler(seed=1))


class DatabaseReads:
    """Counts the reads that reach the database behind the cache."""

    def __init__(self, cache: OwnTrialsCache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.get_trial = self.get_trials = 0
        backend = cache._backend
        real_get_trial, real_get_trials = backend.get_trial, backend._get_trials

        def get_trial(*a: Any, **k: Any) -> Any:
            self.get_trial += 1
            return real_get_trial(*a, **k)

        def get_trials(*a: Any, **k: Any) -> Any:
            self.get_trials += 1
            return real_get_trials(*a, **k)

        monkeypatch.setattr(backend, "get_trial", get_trial)
        monkeypatch.setattr(backend, "_get_trials", get_trials)


def test_own_trials_reflect_each_write_at_once_without_reading_the_database(
        url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, study = open_cache(url)
    study.get_trials()  # the first read of the study
    reads = DatabaseReads(cache, monkeypatch)

    trial = study.ask(DISTS)
    trial.report(0.4, 1)
    trial.report(0.3, 2)
    trial.set_user_attr("k", "v")
    trial.storage.set_trial_system_attr(trial._trial_id, "s", 1)
    t = cache.get_trial(trial._trial_id)
    assert t.state == TrialState.RUNNING and t.datetime_start is not None
    assert set(t.params) == {"x", "n", "act"} and t.params == trial.params
    assert t.distributions == DISTS
    assert t.intermediate_values == {1: 0.4, 2: 0.3}
    assert t.user_attrs == {"k": "v"}
    assert t.system_attrs["s"] == 1
    (listed,) = study.get_trials()
    assert listed.intermediate_values == {1: 0.4, 2: 0.3} and listed.params == t.params
    assert study.get_trials(states=(TrialState.RUNNING,))[0].number == 0
    assert study.get_trials(states=(TrialState.COMPLETE,)) == []
    assert (reads.get_trial, reads.get_trials) == (0, 0)

    # a copy, not the live object: a caller's change does not leak into the cache
    t.user_attrs["k"] = "changed"
    assert cache.get_trial(trial._trial_id).user_attrs == {"k": "v"}


def test_every_write_reaches_the_database_at_once(url: str, clock: FakeClock) -> None:
    _, study = open_cache(url)
    trial = study.ask(DISTS)
    trial.report(0.5, 3)
    trial.set_user_attr("k", [1, 2])
    (t,) = other_process(url).get_trials()
    assert t.state == TrialState.RUNNING
    assert t.params == trial.params and t.intermediate_values == {3: 0.5} and t.user_attrs == {"k": [1, 2]}
    study.tell(trial, 0.25)
    (t,) = other_process(url).get_trials()
    assert t.state == TrialState.COMPLETE and t.values == [0.25]


def test_a_finished_own_trial_moves_to_the_finished_cache(url: str, clock: FakeClock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cache, study = open_cache(url)
    trial = study.ask(DISTS)
    trial.report(0.7, 1)
    study.tell(trial, 0.25)
    assert cache._own == {} and cache._own_study == {}
    study_id = cache.get_study_id_from_name("c")
    info = cache._studies[study_id]
    assert info.trials[0].state == TrialState.COMPLETE and info.trials[0].values == [0.25]
    assert info.trials[0].datetime_complete is not None
    assert trial._trial_id not in info.unfinished_trial_ids
    reads = DatabaseReads(cache, monkeypatch)
    t = cache.get_trial(trial._trial_id)  # Optuna's finished-trial cache answers
    assert (t.state, t.values, t.intermediate_values) == (TrialState.COMPLETE, [0.25], {1: 0.7})
    assert reads.get_trial == 0
    pruned = study.ask(DISTS)
    study.tell(pruned, state=TrialState.PRUNED)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.PRUNED]


def test_another_process_writes_appear_after_refresh(url: str, clock: FakeClock) -> None:
    cache, study = open_cache(url)
    mine = study.ask(DISTS)
    assert [t.number for t in study.get_trials()] == [0]
    other = other_process(url)
    done = other.ask(DISTS)
    other.tell(done, 0.9)
    running = other.ask(DISTS)
    running.report(0.8, 1)

    assert [t.number for t in study.get_trials()] == [0]  # within refresh_s: not read yet
    cache.refresh()
    trials = study.get_trials()
    assert [(t.number, t.state) for t in trials] == [
        (0, TrialState.RUNNING), (1, TrialState.COMPLETE), (2, TrialState.RUNNING)]
    assert trials[1].values == [0.9] and trials[2].intermediate_values == {1: 0.8}

    other.tell(running, 0.7)  # the other trial ends: stale here until the next refresh
    assert study.get_trials()[2].state == TrialState.RUNNING
    cache.refresh()
    assert study.get_trials()[2].state == TrialState.COMPLETE
    assert study.get_trials()[0].number == mine.number  # ours is still there, still ours
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_another_process_writes_appear_once_refresh_s_has_passed(url: str, clock: FakeClock) -> None:
    cache, study = open_cache(url, refresh_s=1.0)
    study.get_trials()
    other = other_process(url)
    other.tell(other.ask(DISTS), 0.9)
    clock.advance(0.5)
    assert study.get_trials() == []
    clock.advance(0.5)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]


def test_a_re_read_of_the_database_keeps_our_own_live_copy(url: str, clock: FakeClock) -> None:
    cache, study = open_cache(url)
    trial = study.ask(DISTS)
    trial.report(0.4, 1)
    cache.refresh()
    (t,) = study.get_trials()  # the database was read again; our trial stays ours
    assert t.intermediate_values == {1: 0.4}
    assert trial._trial_id in cache._own
    trial.report(0.3, 2)
    assert study.get_trials()[0].intermediate_values == {1: 0.4, 2: 0.3}


def test_enqueued_trials_are_own_trials_too(url: str, clock: FakeClock) -> None:
    """A retry is enqueued and then asked: both steps must show in our reads."""
    cache, study = open_cache(url)
    study.enqueue_trial({"x": 0.125, "n": 2, "act": "b"}, user_attrs={"sweeper.retry_of": 7})
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.user_attrs == {"sweeper.retry_of": 7}
    trial = study.ask(DISTS)
    assert trial.params == {"x": 0.125, "n": 2, "act": "b"}
    (t,) = study.get_trials()
    assert t.state == TrialState.RUNNING and t.user_attrs == {"sweeper.retry_of": 7}
    assert t.params == {"x": 0.125, "n": 2, "act": "b"}
