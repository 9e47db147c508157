"""New SQLite MLflow stores are copies of a template migrated once per MLflow version: contract
tests against the installed MLflow (the copy is a store MLflow accepts as its own, its Default
experiment's artifacts go beside it, as if MLflow had made it there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweeper.tracking.mlflow import store


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "sweeper"


def test_a_store_copied_from_the_template_is_one_mlflow_accepts_as_made_here(tmp_path: Path, cache: Path) -> None:
    from mlflow.tracking import MlflowClient

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        store.create_sqlite_store(str(tmp_path / name / "mlflow.db"))
    assert len(list(cache.glob("mlflow-*-empty.db"))) == 1  # migrated once, copied twice
    for name in ("a", "b"):
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / name / 'mlflow.db'}")
        default = client.get_experiment("0")
        assert default.name == "Default" and default.artifact_location == str(tmp_path / name / "mlruns" / "0")
        exp = client.create_experiment("e")
        run = client.create_run(exp)
        client.log_metric(run.info.run_id, "m", 1.0)
        assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert not list(tmp_path.glob("*/mlflow.db.init-*"))  # no side file left


def test_an_existing_store_is_never_touched(tmp_path: Path, cache: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not ours to replace")
    store.create_sqlite_store(str(db))
    assert db.read_bytes() == b"not ours to replace"


def test_without_a_writable_cache_the_store_is_migrated_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    store.create_sqlite_store(str(tmp_path / "mlflow.db"))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_experiment("0").name == "Default"
    assert os.path.isfile(blocker)
