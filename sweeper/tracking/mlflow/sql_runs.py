"""Trial runs written straight into MLflow's SQLite store: a run created in one transaction, and
every run write of a drain (metrics, params, tags, ends) in one more.

Why: MLflow's `SqlAlchemyStore` spends transactions freely. `log_batch` opens a session for the
run, then one each for its params, its metrics and its tags; `create_run` reads the experiment and
commits; `set_terminated` reads the run again and commits. On 2 cores that is ~15 ms of the
writer's CPU to create a run with its params and ~11 ms to end it: the writer could not pass ~35
whole runs a second (benchmarks/writer.py part 1), and a fast sweep waited on it. Here the same
rows go in with a few statements per drain, whatever the number of runs in it.

The rows are MLflow's own: its table objects (`mlflow.store.tracking.dbmodels.models`), so the
columns are the installed MLflow's, filled as its `create_run`, `log_batch` and `update_run_info`
fill them: metrics deduplicated on their key (MLflow's primary key), `latest_metrics` kept to the
greatest (step, timestamp, value), NaN stored as 0 with `is_nan`, infinities as the largest float.
What MLflow would refuse is refused here too, on the run's side: a write to a run that is missing
or deleted is not made and is counted (`Flushed.refused`). One difference, on purpose: a param
logged again with another value is ignored (MLflow raises); sweeper never changes a trial's params.

This is the one module that uses MLflow's private parts: the client's store (`MlflowClient.
_tracking_client.store`), its engine and its table objects. tests/unit/test_sql_runs.py writes the
same runs through here and through `MlflowClient` and compares what MLflow's public API reads back,
and checks the tables' columns: an MLflow release that changes any of it fails there, loudly.
Only for SQLite stores (the default); a server or another database keeps MLflow's client.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

CHUNK = 500  # ids per IN (...): SQLite's bound-parameter limit is far above, but a drain can be large
LARGEST = 1.7976931348623157e308  # MLflow stores +/-inf as the largest 64-bit float


def _sanitize(value: float) -> tuple[bool, float]:
    """As MLflow's `SqlAlchemyStore.sanitize_metric_value`: (is_nan, the value stored)."""
    if math.isnan(value):
        return True, 0.0
    if math.isinf(value):
        return False, LARGEST if value > 0 else -LARGEST
    return False, value


@dataclass
class _Writes:
    """What the drain has for one run, in the order it came."""

    metrics: list[Any] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    end: tuple[str, int] | None = None  # (status, end time in ms)
    ops: int = 0


@dataclass
class Flushed:
    """What a flush wrote: `ops` staged writes in all; `refused` of them to runs MLflow would refuse
    (missing or deleted), not made."""

    ops: int = 0
    refused: int = 0


def sql_runs_for(client: Any, uri: str) -> SqlRuns | None:
    """The fast path for `client`'s store, or None where MLflow's own client must write (a server,
    a database other than SQLite, a store this MLflow does not keep in SQLAlchemy)."""
    if not uri.startswith("sqlite:"):
        return None
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
    except (ImportError, AttributeError):
        return None
    return SqlRuns(store) if isinstance(store, SqlAlchemyStore) else None


class SqlRuns:
    """`create` writes a run now; `stage` keeps a run's writes until `flush`, which writes them all
    in one transaction (and raises, staging nothing more, if it fails)."""

    def __init__(self, store: Any) -> None:
        from mlflow.store.tracking.dbmodels import models

        self.engine = store.engine
        self._store = store
        self.t_runs = models.SqlRun.__table__
        self.t_tags = models.SqlTag.__table__
        self.t_params = models.SqlParam.__table__
        self.t_metrics = models.SqlMetric.__table__
        self.t_latest = models.SqlLatestMetric.__table__
        self._artifacts: dict[str, str] = {}  # experiment id -> its artifact location
        self._staged: dict[str, _Writes] = {}

    # --- runs, created at once -----------------------------------------------------------------
    def create(self, experiment_id: str, name: str, tags: dict[str, str], params: dict[str, str],
               start_ms: int) -> str:
        """A new RUNNING run with its name, tags and params, as `create_run` + `log_batch` make it."""
        from mlflow.utils.uri import append_to_uri_path

        location = self._artifacts.get(experiment_id)
        if location is None:
            location = self._artifacts[experiment_id] = self._store.get_experiment(experiment_id).artifact_location
        run_id = uuid.uuid4().hex
        tags = {**tags, "mlflow.runName": name}
        row = {"run_uuid": run_id, "name": name, "artifact_uri": append_to_uri_path(location, run_id, "artifacts"),
               "experiment_id": int(experiment_id), "source_type": "UNKNOWN", "source_name": "",
               "entry_point_name": "", "user_id": tags.get("mlflow.user", "unknown"), "status": "RUNNING",
               "start_time": start_ms, "end_time": None, "deleted_time": None, "source_version": "",
               "lifecycle_stage": "active"}
        with self.engine.begin() as conn:
            conn.execute(self.t_runs.insert(), [row])
            conn.execute(self.t_tags.insert(), [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()])
            if params:
                conn.execute(self.t_params.insert(),
                             [{"run_uuid": run_id, "key": k, "value": v} for k, v in params.items()])
        return run_id

    # --- a drain's writes, staged then flushed ---------------------------------------------------
    def stage(self, run_id: str, metrics: list[Any] | None = None, params: list[Any] | None = None,
              tags: dict[str, str] | None = None, end: tuple[str, int] | None = None) -> None:
        """`metrics`: MLflow `Metric`s; `params`: MLflow `Param`s; `end`: (status, end ms)."""
        w = self._staged.setdefault(run_id, _Writes())
        w.metrics.extend(metrics or [])
        for p in params or []:
            w.params.setdefault(p.key, p.value)
        w.tags.update(tags or {})
        if end is not None:
            w.end = end
        w.ops += 1

    @property
    def staged(self) -> int:
        return sum(w.ops for w in self._staged.values())

    def flush(self) -> Flushed:
        staged, self._staged = self._staged, {}
        out = Flushed(ops=sum(w.ops for w in staged.values()))
        if not staged:
            return out
        from sqlalchemy import bindparam, select, tuple_
        from sqlalchemy.dialects.sqlite import insert

        with self.engine.begin() as conn:
            active: set[str] = set()
            ids = list(staged)
            for i in range(0, len(ids), CHUNK):
                rows = conn.execute(select(self.t_runs.c.run_uuid).where(
                    self.t_runs.c.run_uuid.in_(ids[i:i + CHUNK]), self.t_runs.c.lifecycle_stage == "active"))
                active.update(r[0] for r in rows)
            metrics: dict[tuple[Any, ...], dict[str, Any]] = {}
            params, tags, ends, names = [], [], [], []
            for run_id, w in staged.items():
                if run_id not in active:
                    out.refused += w.ops
                    continue
                for m in w.metrics:
                    is_nan, value = _sanitize(float(m.value))
                    row = {"run_uuid": run_id, "key": m.key, "value": value, "timestamp": int(m.timestamp),
                           "step": int(m.step), "is_nan": is_nan}
                    metrics.setdefault((run_id, m.key, row["timestamp"], row["step"], value, is_nan), row)
                params += [{"run_uuid": run_id, "key": k, "value": v} for k, v in w.params.items()]
                tags += [{"run_uuid": run_id, "key": k, "value": v} for k, v in w.tags.items()]
                if "mlflow.runName" in w.tags:
                    names.append({"rid": run_id, "name": w.tags["mlflow.runName"]})
                if w.end is not None:
                    ends.append({"rid": run_id, "status": w.end[0], "end_time": int(w.end[1])})
            rows = list(metrics.values())
            if rows:
                conn.execute(insert(self.t_metrics).on_conflict_do_nothing(), rows)
                latest = insert(self.t_latest)
                ex, old = latest.excluded, self.t_latest.c
                # the greatest (step, timestamp, value) wins, as MLflow's `_update_latest_metrics_if_necessary`;
                # rows of one statement apply in order, so a drain's several values of a key compare too
                conn.execute(latest.on_conflict_do_update(
                    index_elements=["key", "run_uuid"],
                    set_={"value": ex.value, "timestamp": ex.timestamp, "step": ex.step, "is_nan": ex.is_nan},
                    where=tuple_(ex.step, ex.timestamp, ex.value) > tuple_(old.step, old.timestamp, old.value)), rows)
            if params:
                conn.execute(insert(self.t_params).on_conflict_do_nothing(), params)
            if tags:
                t = insert(self.t_tags)
                conn.execute(t.on_conflict_do_update(index_elements=["key", "run_uuid"],
                                                     set_={"value": t.excluded.value}), tags)
            runs = self.t_runs
            if names:
                conn.execute(runs.update().where(runs.c.run_uuid == bindparam("rid")).values(
                    name=bindparam("name")), names)
            if ends:
                conn.execute(runs.update().where(runs.c.run_uuid == bindparam("rid")).values(
                    status=bindparam("status"), end_time=bindparam("end_time")), ends)
        return out
