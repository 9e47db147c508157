"""The contract test of sweeper's one adapter over Optuna's private API (sweeper/state/optuna_private.py).

If this fails after an Optuna upgrade, Optuna changed what `OwnTrialsCache` relies on: update the
cache (and its CONTRACT) for the new Optuna before shipping. At run time `cached()` falls back to
the bare storage meanwhile: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from fakes import sqlite_url
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler
from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import TrialState

from sweeper.state import optuna_private
from sweeper.state.optuna_private import OwnTrialsCache, cached, contract_problems

DISTS = {"x": FloatDistribution(-2.0, 2.0), "n": IntDistribution(1, 8),
         "act": CategoricalDistribution(["a", "b"])}


def test_optuna_still_has_what_the_read_cache_relies_on() -> None:
    problems = contract_problems()
    assert problems == [], (
        f"Optuna {optuna.__version__} changed the private API that sweeper's read cache "
        "(sweeper/state/optuna_private.py, OwnTrialsCache) relies on:\n  - " + "\n  - ".join(problems)
        + "\nThe cache must be updated for this Optuna (and CONTRACT with it); until then cached() "
        "runs without it.")


@pytest.fixture
def fresh_check() -> Iterator[None]:
    """`cached()` checks the contract once per process: forget that answer around a test that breaks it."""
    optuna_private._problems_once.cache_clear()
    yield
    optuna_private._problems_once.cache_clear()


def test_a_broken_contract_is_reported_and_the_cache_stands_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_check: None) -> None:
    url = sqlite_url(tmp_path)
    assert isinstance(cached(RDBStorage(url)), OwnTrialsCache)
    optuna_private._problems_once.cache_clear()
    monkeypatch.delattr(_CachedStorage, "_read_trials_from_remote_storage")

    def init(self: Any, backend: Any) -> None:  # an Optuna that renamed a field
        self._backend, self._lock, self._studies = backend, None, {}

    monkeypatch.setattr(_CachedStorage, "__init__", init)
    problems = contract_problems()
    assert "_CachedStorage._read_trials_from_remote_storage is gone" in problems
    assert "_CachedStorage has no _trial_id_to_study_id_and_number" in problems
    bare = RDBStorage(url)
    assert cached(bare) is bare


def trial_view(t: Any) -> tuple[Any, ...]:
    return (t.number, t.state, t.params, t.values, t.intermediate_values, t.user_attrs,
            {k: v for k, v in t.system_attrs.items()}, t.distributions)


def drive(storage: Any) -> Any:
    """The same ask/tell history on any storage: what sweeper's driver does to a study."""
    study = optuna.create_study(storage=storage, study_name="c",
                                sampler=TPESampler(seed=3, n_startup_trials=3, constant_liar=True))
    running = []
    for i in range(12):
        if i == 5:
            study.enqueue_trial({"x": 0.5, "n": 3, "act": "a"}, user_attrs={"sweeper.retry_of": 1})
        t = study.ask(DISTS)
        t.set_user_attr("i", i)
        x = t.params["x"] + t.params["n"] / 10
        for step in range(3):
            t.report(x + 1 / (step + 1), step)
        if i % 5 == 4:
            t.set_user_attr("sweeper.error", "boom")
            study.tell(t, state=TrialState.FAIL)
        elif i % 5 == 3:
            study.tell(t, state=TrialState.PRUNED)
        elif i % 5 == 2:
            running.append(t)  # left running a while: TPE sees it (constant liar)
        else:
            study.tell(t, x * x)
    for t in running[:-1]:
        study.tell(t, 0.0)
    return study


def test_ask_and_tell_through_the_cache_give_the_trials_the_bare_storage_gives(tmp_path: Path) -> None:
    url_cached, url_bare = sqlite_url(tmp_path, "cached.db"), sqlite_url(tmp_path, "bare.db")
    storage = cached(RDBStorage(url_cached))
    assert isinstance(storage, OwnTrialsCache)
    via_cache = drive(storage)
    via_bare = drive(RDBStorage(url_bare))
    expected = [trial_view(t) for t in via_bare.get_trials()]
    assert len(expected) == 12 and {t[1] for t in expected} == {
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING}
    assert [trial_view(t) for t in via_cache.get_trials()] == expected
    # and what the cache wrote is what a reader of its database finds
    reread = optuna.load_study(study_name="c", storage=RDBStorage(url_cached))
    assert [trial_view(t) for t in reread.get_trials()] == expected
