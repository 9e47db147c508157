"""The one place sweeper touches Optuna's private API: a read cache on top of `_CachedStorage`.

Optuna's cache keeps finished trials but re-reads every unfinished trial from the database on
each `get_trial`/`get_all_trials`, several ORM queries per asked trial. The driver is the only
writer of the trials it runs (other agents on a shared study only write their own), so it can
keep those in memory, updated on each write, and re-read the rest of the study at most once per
`refresh_s`. Trials of other agents are then at most that stale, which samplers tolerate anyway
(they already sample while other trials run). Every write still goes to the database at once.

What it relies on is listed in `CONTRACT` and checked by `contract_problems()`: the contract test
(tests/unit/test_optuna_contract.py) fails loudly on an Optuna release that changes any of it, and
`cached()` falls back to Optuna's own public storage (slower, never wrong) if it ever does at run time.
"""

from __future__ import annotations

import copy
import datetime
import functools
import inspect
import logging
import time
from collections.abc import Container, Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage, _cached_storage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger("sweeper.state")

#: the private names the cache uses: `_CachedStorage` methods it overrides or calls, and its fields
CONTRACT = {
    "methods": {"__init__": ["backend"], "_read_trials_from_remote_storage": ["study_id"],
                "create_new_trial": ["study_id", "template_trial"]},
    "fields": ["_lock", "_studies", "_trial_id_to_study_id_and_number"],
    "study_fields": ["trials", "unfinished_trial_ids"],
}


def contract_problems() -> list[str]:
    """What of `CONTRACT` this Optuna no longer has; empty when the cache is safe to use."""
    problems = []
    for name, params in CONTRACT["methods"].items():
        fn = getattr(_CachedStorage, name, None)
        if fn is None:
            problems.append(f"_CachedStorage.{name} is gone")
            continue
        have = list(inspect.signature(fn).parameters)[1:]
        if have[:len(params)] != params:
            problems.append(f"_CachedStorage.{name}{tuple(have)} no longer takes {tuple(params)}")
    probe = _CachedStorage.__new__(_CachedStorage)
    _CachedStorage.__init__(probe, None)  # type: ignore[arg-type]  # it only keeps the backend
    for field in CONTRACT["fields"]:
        if not hasattr(probe, field):
            problems.append(f"_CachedStorage has no {field}")
    info_cls = getattr(_cached_storage, "_StudyInfo", None)
    info = info_cls() if info_cls is not None else None
    for field in CONTRACT["study_fields"]:
        if not hasattr(info, field):
            problems.append(f"_CachedStorage's per-study cache (_StudyInfo) has no {field}")
    return problems


@functools.cache
def _problems_once() -> tuple[str, ...]:
    return tuple(contract_problems())


def cached(backend: RDBStorage) -> RDBStorage:
    """`backend` behind the own-trials cache, or bare if this Optuna breaks the cache's contract."""
    problems = _problems_once()
    if problems:
        log.warning("Optuna %s changed what sweeper's read cache relies on (%s): running without it",
                    __import__("optuna").__version__, "; ".join(problems))
        return backend
    return OwnTrialsCache(backend)  # type: ignore[return-value]


class OwnTrialsCache(_CachedStorage):
    def __init__(self, backend: RDBStorage, refresh_s: float = 1.0) -> None:
        super().__init__(backend)
        self.refresh_s = refresh_s
        self._own: dict[int, FrozenTrial] = {}  # trial_id -> live copy of a trial this process runs
        self._own_study: dict[int, int] = {}  # trial_id -> study_id
        self._last_read: dict[int, float] = {}

    # writes: to the database first, then to the live copy
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            study = self._studies[study_id]
            number = self._trial_id_to_study_id_and_number[trial_id][1]
            # one object, in `_own` and in Optuna's per-study cache: reads need no merge
            self._own[trial_id] = study.trials[number] = copy.deepcopy(study.trials[number])
            self._own_study[trial_id] = study_id
        return trial_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
        t = self._own.get(trial_id)
        if t is not None:
            t.params = {**t.params, param_name: distribution.to_external_repr(param_value_internal)}
            t.distributions = {**t.distributions, param_name: distribution}

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        ok = super().set_trial_state_values(trial_id, state, values)
        t = self._own.get(trial_id)
        if ok and t is not None:
            t.state = state
            if values is not None:
                t.values = list(values)
            now = datetime.datetime.now()
            if state == TrialState.RUNNING:
                t.datetime_start = now
            if state.is_finished():
                t.datetime_complete = now
                self._finish(trial_id, t)
        return ok

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)
        t = self._own.get(trial_id)
        if t is not None:
            t.intermediate_values = {**t.intermediate_values, step: intermediate_value}

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_user_attr(trial_id, key, value)
        t = self._own.get(trial_id)
        if t is not None:
            t.user_attrs = {**t.user_attrs, key: value}

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_system_attr(trial_id, key, value)
        t = self._own.get(trial_id)
        if t is not None:
            t.system_attrs = {**t.system_attrs, key: value}

    def _finish(self, trial_id: int, t: FrozenTrial) -> None:
        """A finished trial no longer changes: hand it to the finished-trial cache at once."""
        with self._lock:
            study_id = self._own_study.pop(trial_id)
            del self._own[trial_id]
            study = self._studies[study_id]
            study.trials[t.number] = t
            study.unfinished_trial_ids.discard(trial_id)

    # reads: own trials from memory, the rest refreshed at most every refresh_s
    def get_trial(self, trial_id: int) -> FrozenTrial:
        t = self._own.get(trial_id)
        if t is not None:
            return copy.deepcopy(t)
        return super().get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        now = time.monotonic()
        if study_id not in self._studies or now - self._last_read.get(study_id, -1e9) >= self.refresh_s:
            self._read_trials_from_remote_storage(study_id)
            self._last_read[study_id] = now
        with self._lock:
            # Own trials already sit in `study.trials` (see create_new_trial and the remote read),
            # so a read is one pass over the study, filtered before sorting like Optuna's own:
            # `ask` reads only WAITING trials, a handful in a study of thousands.
            study = self._studies[study_id]
            found = study.trials.values() if states is None else [t for t in study.trials.values() if t.state in states]
            trials = sorted(found, key=lambda t: t.number)
            return copy.deepcopy(trials) if deepcopy else trials

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        super()._read_trials_from_remote_storage(study_id)
        with self._lock:  # the database's copy of a trial we run may lag our own: keep ours
            study = self._studies[study_id]
            for trial_id, t in self._own.items():
                if self._own_study[trial_id] == study_id:
                    study.trials[t.number] = t

    def refresh(self) -> None:
        """Forget the refresh time: the next read sees every agent's latest writes."""
        self._last_read.clear()
