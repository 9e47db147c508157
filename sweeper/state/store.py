"""The Optuna study: the single source of truth for a sweep.

Everything a resume needs lives here: the resolved sweep definition (study user attrs), each
trial's params, state, intermediate values and, for failures, why (names in `attrs.py`). This
module opens storages and studies and reads them back as counts, summaries and `TrialRecord`s;
SQLite gets WAL journaling so `sweep status` can read while a sweep writes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ..errors import SweepError
from ..files import new_from_template
from ..messages import TrialRecord
from ..redact import mask
from . import attrs


class StorageError(SweepError):
    pass


class _NoFallbackNotice(logging.Filter):
    """Drops Optuna's "Caught an error from sqlalchemy ... Falling back to a slower alternative":
    its RDB storage logs it, with the SQL statement, whenever a trial query fails, and retries a
    slower query (meant for SQLite's limit on IN lists). When the database is gone (a PostgreSQL
    server stopped mid-query) the retry fails too and sweeper says so in one line; the notice
    would add seven before it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Caught an error from sqlalchemy")


_NOTICE_FILTER = _NoFallbackNotice()


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = logging.getLogger("optuna.storages._rdb.storage")
    if _NOTICE_FILTER not in rdb.filters:
        rdb.addFilter(_NOTICE_FILTER)


def check_url(url: str) -> Any:
    """`url` parsed, with its database driver found, or a one-line StorageError: what can be known
    of a storage URL without connecting (checked before any worker starts)."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise StorageError(f"storage: {mask(url)!r} is not an SQLAlchemy URL (e.g. sqlite:///sweeps.db)") from None
    try:
        parsed.get_dialect()
    except Exception as e:
        msg = " ".join(str(e).split("\n")[0].split())
        raise StorageError(f"storage: cannot open {mask(url)}: {mask(msg)[:300]}") from None
    return parsed


def open_storage(url: str, create_dirs: bool = False) -> Any:
    """An RDBStorage for `url`, or a one-line StorageError; creates nothing when it fails."""

    _quiet()
    from optuna.storages import RDBStorage

    parsed = check_url(url)
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:":
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                if not create_dirs:
                    raise StorageError(f"storage: folder {folder} of {mask(url)} does not exist")
                os.makedirs(folder, exist_ok=True)
            fresh = not os.path.exists(path)
            if fresh and not create_dirs:
                raise StorageError(f"storage: no sweep storage at {mask(url)} (nothing has been launched there)")
            if fresh:
                _create_sqlite_atomically(path)
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        from .optuna_private import cached

        return cached(RDBStorage(url, engine_kwargs=engine_kwargs, skip_compatibility_check=False))
    except Exception as e:
        msg = " ".join(str(e).split("\n")[0].split())
        raise StorageError(f"storage: cannot open {mask(url)}: {mask(msg)[:300]}") from None


def _create_sqlite_atomically(path: str) -> None:
    """A new study database, whole or not at all: a kill during creation leaves no half-made
    database behind (the next run would fail on it). Optuna's schema takes ~1.5 s to build and
    depends only on its version: built once into a cached template, copied from then on."""
    import optuna

    def make(tmp: str) -> None:
        import sqlite3

        from optuna.storages import RDBStorage

        db = sqlite3.connect(tmp)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer (kept in the file)
        finally:
            db.close()
        RDBStorage(f"sqlite:///{tmp}").engine.dispose()

    new_from_template(path, f"optuna-{optuna.__version__}-empty.db", make)


def study_names(storage: Any) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def exists(storage: Any, name: str) -> bool:
    import optuna

    try:
        storage.get_study_id_from_name(name)
        return True
    except KeyError:
        return False
    except optuna.exceptions.OptunaError:
        return False


def create(storage: Any, name: str, directions: list[str], sampler: Any, pruner: Any,
           user_attrs: dict[str, Any], metric_names: list[str] | None = None) -> Any:
    """A new study holding the sweep's definition and bookkeeping (`user_attrs`), its objectives
    named (`metric_names`: optuna-dashboard and Optuna's plots label them).

    Raises SweepError if another process created a study of that name first (two launches at once).
    """
    import optuna

    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler,
                                    pruner=pruner or optuna.pruners.NopPruner())
    except optuna.exceptions.DuplicatedStudyError:
        raise SweepError(f"a sweep named {name!r} already exists (another launch created it just now): "
                         f"continue it with `sweep resume {name}` or `sweep agent {name}`") from None
    for k, v in user_attrs.items():
        study.set_user_attr(k, v)
    if metric_names:
        import warnings

        with warnings.catch_warnings():  # experimental since Optuna 3.2, and what the dashboard reads
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study


def load(storage: Any, name: str, sampler: Any = None, pruner: Any = None) -> Any:
    import optuna

    if not exists(storage, name):
        known = ", ".join(study_names(storage)) or "none"
        raise SweepError(f"no sweep named {name!r} in this storage (known: {known})")
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                             pruner=pruner or optuna.pruners.NopPruner())


@dataclass
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0  # failed by their own error: counted in n_trials
    interrupted: int = 0  # cut off by an interruption: not counted, re-run
    retried: int = 0  # crashed by itself and retried: not counted, its retry counts instead
    running: int = 0
    imported: int = 0  # copied from an earlier sweep (warm_start): history, never run, not counted

    @property
    def finished(self) -> int:
        """Trials that count towards n_trials."""
        return self.complete + self.pruned + self.failed


def is_interrupted(trial: Any) -> bool:
    return bool(trial.user_attrs.get(attrs.INTERRUPTED))


def is_imported(trial: Any) -> bool:
    return attrs.IMPORTED in trial.user_attrs


def is_feasible(trial: Any) -> bool:
    """Every constraint holds (Optuna's convention: each value <= 0); a trial without any is."""
    return all(v <= 0 for v in trial.constraints.values())


def counts(trials: list[Any]) -> Counts:
    from optuna.trial import TrialState

    c = Counts()
    for t in trials:
        if is_imported(t):
            c.imported += 1
        elif t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL:
            if is_interrupted(t):
                c.interrupted += 1
            elif t.user_attrs.get(attrs.RETRIED):
                c.retried += 1
            else:
                c.failed += 1
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            c.running += 1
    return c


def best_trial(study: Any) -> Any | None:
    """The best complete feasible trial this sweep ran (single objective; trials imported by a
    warm start are history, not results); None before the first one."""
    if len(study.directions) > 1:
        return None
    try:
        best = study.best_trial
    except ValueError:
        return None
    if not is_imported(best):
        return best
    own = [t for t in _feasible_complete(study) if not is_imported(t)]
    if not own:
        return None
    sign = -1 if study.direction.name == "MAXIMIZE" else 1
    return min(own, key=lambda t: (sign * t.value, t.number))


def _feasible_complete(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if is_feasible(t)]


def dominates(a: list[float], b: list[float]) -> bool:
    """`a` is no worse than `b` in every (minimised) objective and better in one; equal values: neither."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def front(study: Any) -> list[Any]:
    """The Pareto front of a study with several objectives: its feasible non-dominated complete
    trials, by number (Optuna's own `best_trials`)."""
    front = study.best_trials
    if any(is_imported(t) for t in study.get_trials(deepcopy=False)):
        # the front of this sweep's own trials: an imported trial may dominate them, yet is no result here
        signs = [-1 if d.name == "MAXIMIZE" else 1 for d in study.directions]
        own = [t for t in _feasible_complete(study) if not is_imported(t)]
        keyed = [(t, [s * v for s, v in zip(signs, t.values, strict=True)]) for t in own]
        front = [t for t, a in keyed if not any(dominates(b, a) for _, b in keyed)]
    return sorted(front, key=lambda t: t.number)


def import_trials(study: Any, source: Any, source_name: str, params: dict[str, Any]) -> tuple[int, int]:
    """Copy `source`'s complete trials into `study` as history (warm start): each whose params fit
    `params` (every searched param present, with a value the new space admits; others ignored).
    They keep their values and constraints, carry `sweeper.imported_from`, and are never run.
    Returns (imported, skipped)."""
    import optuna
    from optuna.trial import TrialState

    searched = {n: p for n, p in params.items() if not p.is_fixed}
    dists = {n: p.distribution() for n, p in searched.items()}
    done = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    fits = [t for t in done if all(n in t.params and p.admits(t.params[n]) for n, p in searched.items())]
    study.add_trials([optuna.trial.create_trial(
        params={n: t.params[n] for n in searched}, distributions=dists, values=list(t.values),
        user_attrs={attrs.IMPORTED: f"{source_name}#{t.number}"},
        system_attrs={k: v for k, v in t.system_attrs.items() if k.startswith("constraints")}) for t in fits])
    return len(fits), len(done) - len(fits)


def metric_names(study: Any) -> list[str]:
    """The objectives' metric names, as the sweep named them (Optuna's `metric_names`)."""
    names = study.metric_names
    return list(names) if names else [f"objective_{i}" for i in range(len(study.directions))]


def spec_yaml(study: Any) -> str:
    return str(study.user_attrs.get(attrs.SPEC, ""))


def summary(study: Any) -> dict[str, Any]:
    from .budget import summary as budget_summary

    trials = study.get_trials(deepcopy=False)
    c = counts(trials)
    best = best_trial(study)
    import yaml

    spec = yaml.safe_load(spec_yaml(study) or "{}") or {}
    state = str(study.user_attrs.get(attrs.STATE, "RUNNING" if c.running else "UNKNOWN"))
    return {"name": study.study_name, "state": state, "n_trials": spec.get("n_trials"), "complete": c.complete,
            "pruned": c.pruned, "failed": c.failed, "interrupted": c.interrupted, "retried": c.retried,
            "running": c.running,
            "best_value": best.value if best else None, "best_trial": best.number if best else None,
            "directions": [d.name.lower() for d in study.directions],
            "budget": budget_summary(spec.get("budget"), trials, study.user_attrs, best.value if best else None)}


def records(study: Any, numbers: list[int] | None = None) -> list[TrialRecord]:
    """The finished trials (all, or `numbers`) as a tracker needs them to rebuild their runs."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name in ("RUNNING", "WAITING") or (numbers is not None and t.number not in numbers) or is_imported(t):
            continue  # an imported trial has no run: it ran in the sweep it came from
        out.append(TrialRecord(
            number=t.number, state=t.state.name, params=dict(t.params),
            values=list(t.values) if t.values is not None else None,
            intermediate=dict(t.intermediate_values), interrupted=bool(t.user_attrs.get(attrs.INTERRUPTED)),
            error=t.user_attrs.get(attrs.ERROR), retry_of=t.user_attrs.get(attrs.RETRY_OF),
            start_ms=int(t.datetime_start.timestamp() * 1000) if t.datetime_start else None,
            end_ms=int(t.datetime_complete.timestamp() * 1000) if t.datetime_complete else None))
    return out


class StudyMemo:
    """A tracker's own key-value state, kept in the study so a resume finds it (its run ids)."""

    def __init__(self, study: Any, tracker: str) -> None:
        self.study, self.tracker = study, tracker

    def _name(self, key: str) -> str:
        if self.tracker == "mlflow" and key == "parent_run_id":
            return attrs.MLFLOW_PARENT  # the name studies have always used
        return f"{attrs.TRACKER_PREFIX}{self.tracker}.{key}"

    def get(self, key: str) -> Any:
        return self.study.user_attrs.get(self._name(key))

    def set(self, key: str, value: Any) -> None:
        self.study.set_user_attr(self._name(key), value)

