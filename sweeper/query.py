"""What a sweep holds, read from its study: `sweep status`, `sweep ls`, `sweep export` (and their JSON).

The study is the truth; MLflow is asked only for each trial's run id (one search), and a view that
does not answer leaves that column empty with a warning, never an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .api import _storage_url, stored
from .config.spec import SweepSpec
from .errors import SpecError, SweepError
from .redact import mask
from .state import attrs
from .state import store as studies

if TYPE_CHECKING:
    import optuna

def _sweep_spec(name: str, storage_url: str) -> tuple[SweepSpec | None, optuna.Study]:
    """The stored spec of sweep `name` (None for a study that sweeper did not create, or whose
    definition no longer resolves here) and its study; an unknown name is the usual SweepError."""
    st = studies.load(studies.open_storage(storage_url), name)
    try:
        spec, _, _ = stored(name, storage_url, [])
    except SweepError:
        return None, st
    return spec, st


def _value_names(spec: SweepSpec | None, study: optuna.Study) -> list[str]:
    """The objective's metric names (a study without a definition: value, or value_0, value_1, ...)."""
    if spec is not None and len(spec.metrics) == len(study.directions):
        return list(spec.metrics)
    n = len(study.directions)
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def _shown_state(trial: Any) -> str:
    """A trial's state as the CLI shows it: FAIL cut off by an interruption reads INTERRUPTED."""
    state = str(trial.state.name)
    return "INTERRUPTED" if state == "FAIL" and trial.user_attrs.get(attrs.INTERRUPTED) else state


def _duration_s(trial: Any) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _best_numbers(study: optuna.Study) -> set[int]:
    """The best trial (one objective) or the Pareto front (several)."""
    if len(study.directions) == 1:
        b = studies.best_trial(study)
        return set() if b is None else {b.number}
    # the sweep's own feasible front, as `sweep best` prints it (not Optuna's, which counts imported
    # and infeasible trials)
    return {t.number for t in studies.front(study)}


def status(name: str, storage: str | None = None) -> dict[str, Any]:
    """What `sweep status` shows: the sweep's state and counts (as `sweeps()` gives them), its
    `metrics`, and `trials`: {number, state, values {metric: value}, best, last_step, duration_s,
    params, error} each, in trial order."""
    spec, st = _sweep_spec(name, _storage_url(storage))
    summ = _listing(st)
    metrics = _value_names(spec, st)
    best_numbers = _best_numbers(st)
    trials = []
    for t in st.get_trials(deepcopy=False):
        values = list(t.values) if t.values is not None else [None] * len(metrics)
        trials.append({"number": t.number, "state": _shown_state(t), "values": dict(zip(metrics, values, strict=False)),
                       "best": t.number in best_numbers,
                       "last_step": max(t.intermediate_values) if t.intermediate_values else None,
                       "duration_s": _duration_s(t), "params": dict(t.params),
                       "error": t.user_attrs.get(attrs.ERROR)})
    return {**summ, "metrics": metrics, "trials": trials}


def _listing(study: optuna.Study) -> dict[str, Any]:
    summ = studies.summary(study)
    return {"name": summ["name"], "state": summ["state"], "n_trials": summ["n_trials"],
            "done": summ["complete"] + summ["pruned"] + summ["failed"],
            **{k: summ[k] for k in ("complete", "pruned", "failed", "interrupted", "retried", "running",
                                    "best_value", "best_trial", "directions", "budget")}}


def sweeps(storage: str | None = None) -> list[dict[str, Any]]:
    """What `sweep ls` shows, one dict per sweep in the storage: {name, state, n_trials, done
    (trials that count towards n_trials), complete, pruned, failed, interrupted, retried, running,
    best_value, best_trial, directions, budget (spent/total of each budget the sweep has, e.g.
    {"steps": "41/60"})}."""
    import optuna

    st = studies.open_storage(_storage_url(storage))
    return [_listing(optuna.load_study(study_name=s.study_name, storage=st)) for s in st.get_all_studies()]


EXPORT_FORMATS = ("csv", "json", "parquet")
_EXPORT_EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
_CLI = "command line"


@dataclass
class TrialsTable:
    """A sweep's trials as rows (column name -> plain value: int, float, str, bool or None),
    `columns` in order; `problems` says why a column could not be filled (MLflow down)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)


def _child_runs(spec: SweepSpec, study: optuna.Study) -> tuple[dict[int, str], str | None]:
    """trial number -> MLflow run id, or why there are none (never raises: MLflow is only the view)."""
    from .tracking.mlflow import tracking_uri
    from .tracking.mlflow.lookup import child_run_ids, store_missing, unreachable
    from .tracking.mlflow.tracker import PARENT_KEY

    parent = studies.StudyMemo(study, "mlflow").get(PARENT_KEY)
    if not parent:
        return {}, f"sweep {spec.name!r} has no MLflow run recorded (`sweep sync {spec.name}` makes them): run_id left empty"
    uri = tracking_uri(spec.tracking.uri, spec.workdir)
    missing = store_missing(uri)
    if missing:
        return {}, f"{missing}: run_id left empty"
    down = unreachable(uri)  # seconds sooner than MLflow's client would say so
    if down:
        return {}, f"MLflow at {mask(uri)} is unreachable ({mask(down)[:200]}): run_id left empty"
    try:
        return child_run_ids(uri, parent), None
    except Exception as e:  # the view may be down; the study still answers
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return {}, f"MLflow at {mask(uri)} is unreachable ({mask(first)[:200]}): run_id left empty"


def trials_table(name: str, storage: str | None = None, runs: bool = True) -> TrialsTable:
    """Sweep `name`'s trials table, what `sweep export` writes: number, state, one column per
    objective (named by its metric), one per param (in the sweep's order, fixed ones included),
    duration_s, steps (last step reported), datetime_start, datetime_complete (ISO, as Optuna
    recorded them), run_id (the trial's MLflow run; `runs=False` skips asking MLflow), error."""
    url = _storage_url(storage)
    spec, _, st = stored(name, url, [])
    metrics = _value_names(spec, st)
    trials = st.get_trials(deepcopy=False)
    param_names = list(spec.params)
    param_names += sorted({k for t in trials for k in t.params} - set(param_names))
    fixed = {p.name: p.value for p in spec.params.values() if p.is_fixed}
    taken = {"number", "state", "duration_s", "steps", "datetime_start", "datetime_complete", "run_id", "error"}
    value_cols = [m if m not in taken else f"value.{m}" for m in metrics]
    taken |= set(value_cols)
    param_cols = [p if p not in taken else f"param.{p}" for p in param_names]
    columns = ["number", "state", *value_cols, *param_cols, "duration_s", "steps", "datetime_start",
               "datetime_complete", "run_id", "error"]
    problems: list[str] = []
    run_ids: dict[int, str] = {}
    if runs:
        run_ids, problem = _child_runs(spec, st)
        if problem:
            problems.append(problem)
    rows = []
    for t in trials:
        values = list(t.values) if t.values is not None else [None] * len(metrics)
        row: dict[str, Any] = {"number": t.number, "state": _shown_state(t)}
        row.update(zip(value_cols, values, strict=False))
        for name_, col in zip(param_names, param_cols, strict=True):
            row[col] = t.params.get(name_, fixed.get(name_) if t.params else None)
        row.update({"duration_s": _duration_s(t),
                    "steps": max(t.intermediate_values) if t.intermediate_values else None,
                    "datetime_start": _iso(t.datetime_start), "datetime_complete": _iso(t.datetime_complete),
                    "run_id": run_ids.get(t.number), "error": t.user_attrs.get(attrs.ERROR)})
        rows.append(row)
    return TrialsTable(columns, rows, problems)


def export_format(fmt: str | None, path: str | None) -> str:
    """The format to write: `fmt`, else the extension of `path`, else csv. SpecError for one that
    is unknown, or for parquet without a file; SweepError for a path whose folder does not exist."""
    if fmt is None:
        fmt = _EXPORT_EXTENSIONS.get(os.path.splitext(path or "")[1].lower(), "csv")
    fmt = fmt.lower()
    if fmt not in EXPORT_FORMATS:
        raise SpecError(_CLI, "--format", f"unknown format {fmt!r} (allowed: {', '.join(EXPORT_FORMATS)})")
    if path is None:
        if fmt == "parquet":
            raise SpecError(_CLI, "--format", "parquet is binary and does not go to standard output: "
                                              "give a file with -o FILE (csv and json may go to standard output)")
        return fmt
    if os.path.isdir(path):
        raise SpecError(_CLI, "-o", f"{path} is a folder: give a file name, e.g. -o {os.path.join(path, 'trials.' + fmt)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SpecError(_CLI, "-o", f"folder {folder} does not exist (create it, or write into an existing one)")
    return fmt


def _iso(when: Any) -> str | None:
    """A datetime as ISO 8601, always with microseconds (one shape for every row)."""
    return None if when is None else when.isoformat(timespec="microseconds")


def _finite(v: Any) -> Any:
    import math

    return None if isinstance(v, float) and not math.isfinite(v) else v


def render(table: TrialsTable, fmt: str) -> str | bytes:
    """The table as CSV text, JSON text (a list of objects; a non-finite number is null) or parquet bytes."""
    import io

    if fmt == "csv":
        import csv

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.columns)
        for r in table.rows:
            w.writerow(["" if r[c] is None else repr(r[c]) if isinstance(r[c], float) else r[c] for c in table.columns])
        return buf.getvalue()
    if fmt == "json":
        body = ",\n".join(json.dumps({c: _finite(r[c]) for c in table.columns}) for r in table.rows)
        return f"[\n{body}\n]\n" if body else "[]\n"
    if fmt == "parquet":
        import pandas as pd

        df = pd.DataFrame(table.rows, columns=table.columns)
        for c in ("datetime_start", "datetime_complete"):
            df[c] = pd.to_datetime(df[c], format="ISO8601")
        for c in ("number", "steps"):
            df[c] = df[c].astype("Int64")
        for c in table.columns:  # a column of mixed kinds (choice(1, a)) is stored as text
            kinds = {type(v) for v in df[c] if v is not None}
            if df[c].dtype == object and len(kinds) > 1:
                df[c] = [None if v is None else str(v) for v in df[c]]
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    raise SpecError(_CLI, "--format", f"unknown format {fmt!r} (allowed: {', '.join(EXPORT_FORMATS)})")


def export(name: str, storage: str | None = None, fmt: str | None = None,
           path: str | None = None) -> tuple[str | bytes | None, list[str]]:
    """Sweep `name`'s trials table (see `trials_table`) as csv, json or parquet: into the file
    `path` (written whole or not at all; returns None), else returned as text. Also returns the
    problems met (MLflow unreachable: run_id left empty). Bad input raises before anything is read or written."""
    fmt = export_format(fmt, path)
    table = trials_table(name, storage)
    data = render(table, fmt)
    if path is None:
        return data, table.problems
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return None, table.problems
