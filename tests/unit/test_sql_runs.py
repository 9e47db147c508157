"""Contract tests of `sql_runs` (the writer's fast path into MLflow's SQLite store) against the
installed MLflow: the same runs written through it and through `MlflowClient` read back the same
through MLflow's public API, and the tables have the columns it fills. An MLflow release that
changes its schema or its rules for runs fails here, not in a user's sweep."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sweeper.tracking.mlflow import store
from sweeper.tracking.mlflow.layout import metric, param_list
from sweeper.tracking.mlflow.sql_runs import SqlRuns, sql_runs_for

TAGS = {"mlflow.parentRunId": "p" * 32, "trial.number": "7", "trial.state": "RUNNING", "worker.gpus": ""}
PARAMS = {"lr": "0.01", "act": "relu", "long": "x" * 600}
# out of order, a duplicate (same key, step, time and value), NaN and infinities, two keys
REPORTS = [("loss", 3.0, 1000, 0), ("loss", 2.0, 1001, 1), ("loss", 2.0, 1001, 1), ("loss", 5.0, 999, 2),
           ("loss", 4.0, 1003, 1), ("acc", math.nan, 1000, 0), ("acc", math.inf, 1002, 1), ("acc", -math.inf, 1004, 3)]


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One template store for the module: MLflow migrates it once (seconds), each test copies it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def client(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    db = tmp_path / "mlflow.db"
    store.create_sqlite_store(str(db))
    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def _by_client(client: Any, exp: str, reports: list[tuple[str, float, int, int]]) -> str:
    run = client.create_run(exp, run_name="trial-7", tags=TAGS, start_time=500)
    rid = run.info.run_id
    client.log_batch(rid, params=param_list(PARAMS))
    client.log_batch(rid, metrics=[metric(*r) for r in reports[:3]])
    client.log_batch(rid, metrics=[metric(*r) for r in reports[3:]], tags=[_tag("trial.state", "COMPLETE")])
    client.set_terminated(rid, status="FINISHED", end_time=2000)
    return rid


def _by_sql(client: Any, uri: str, exp: str, reports: list[tuple[str, float, int, int]]) -> str:
    fast = sql_runs_for(client, uri)
    assert fast is not None
    rid = fast.create(exp, "trial-7", TAGS, PARAMS, 500)
    fast.stage(rid, metrics=[metric(*r) for r in reports[:3]])
    assert fast.flush().ops == 1  # two drains: the second upserts over the first's rows
    fast.stage(rid, metrics=[metric(*r) for r in reports[3:]], tags={"trial.state": "COMPLETE"})
    fast.stage(rid, end=("FINISHED", 2000))
    assert fast.flush().ops == 2 and fast.staged == 0
    return rid


def _tag(k: str, v: str) -> Any:
    from mlflow.entities import RunTag

    return RunTag(k, v)


def _read(client: Any, rid: str) -> dict[str, Any]:
    run = client.get_run(rid)
    i = run.info
    history = {k: sorted((m.step, m.timestamp, m.value if not math.isnan(m.value) else "nan")
                         for m in client.get_metric_history(rid, k)) for k in run.data.metrics}
    return {"status": i.status, "start": i.start_time, "end": i.end_time, "stage": i.lifecycle_stage,
            "name": i.run_name, "user": i.user_id, "exp": i.experiment_id,
            "artifacts": i.artifact_uri.replace(rid, "RUN"), "params": run.data.params, "tags": run.data.tags,
            "latest": {k: ("nan" if math.isnan(v) else v) for k, v in run.data.metrics.items()}, "history": history}


def test_a_run_written_in_one_transaction_reads_back_as_mlflows_own(client: Any) -> None:
    uri = client.tracking_uri
    exp = client.create_experiment("e")
    mine, theirs = _by_sql(client, uri, exp, REPORTS), _by_client(client, exp, REPORTS)
    assert _read(client, mine) == _read(client, theirs)
    got = _read(client, mine)
    assert got["latest"] == {"loss": 5.0, "acc": -1.7976931348623157e308} and got["status"] == "FINISHED"
    assert len(got["history"]["loss"]) == 4  # the duplicate once
    # and MLflow's search sees it as it sees its own
    found = client.search_runs([exp], filter_string="metrics.loss = 5 and tags.`trial.state` = 'COMPLETE' "
                               "and params.act = 'relu'")
    assert sorted(r.info.run_id for r in found) == sorted([mine, theirs])


def test_a_drain_of_many_runs_is_one_flush_and_runs_mlflow_refuses_are_counted_not_written(client: Any) -> None:
    uri = client.tracking_uri
    exp = client.create_experiment("e")
    fast = sql_runs_for(client, uri)
    assert fast is not None
    ids = [fast.create(exp, f"trial-{n}", {**TAGS, "trial.number": str(n)}, {"n": str(n)}, 100 + n) for n in range(20)]
    client.delete_run(ids[3])
    for n, rid in enumerate(ids):
        fast.stage(rid, metrics=[metric("loss", float(n), 1000, 0)], end=("FAILED" if n % 2 else "FINISHED", 2000))
    fast.stage("0" * 32, tags={"a": "b"})  # a run that is not there
    out = fast.flush()
    assert (out.ops, out.refused) == (21, 2)
    runs = {r.info.run_id: r for r in client.search_runs([exp], max_results=100)}
    assert ids[3] not in runs and len(runs) == 19
    for n, rid in enumerate(ids):
        if n != 3:
            assert runs[rid].info.status == ("FAILED" if n % 2 else "FINISHED") and runs[rid].data.metrics == {"loss": n}
    assert client.get_run(ids[3]).data.metrics == {}  # the deleted run was left as it was


def test_only_sqlite_stores_take_the_fast_path(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    assert sql_runs_for(MlflowClient(tracking_uri="http://127.0.0.1:9"), "http://127.0.0.1:9") is None
    assert sql_runs_for(object(), f"sqlite:///{tmp_path}/x.db") is None  # a client without MLflow's store


def test_the_tables_have_the_columns_it_fills(client: Any) -> None:
    """A column MLflow adds (one that a run needs filled) must be seen here before a user's sweep
    leaves it empty."""
    fast = sql_runs_for(client, client.tracking_uri)
    assert isinstance(fast, SqlRuns)
    cols = {t.name: sorted(c.name for c in t.columns)
            for t in (fast.t_runs, fast.t_tags, fast.t_params, fast.t_metrics, fast.t_latest)}
    assert cols == {
        "runs": sorted(["run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id", "status",
                        "start_time", "end_time", "deleted_time", "source_version", "lifecycle_stage",
                        "artifact_uri", "experiment_id"]),
        "tags": ["key", "run_uuid", "value"], "params": ["key", "run_uuid", "value"],
        "metrics": ["is_nan", "key", "run_uuid", "step", "timestamp", "value"],
        "latest_metrics": ["is_nan", "key", "run_uuid", "step", "timestamp", "value"]}
