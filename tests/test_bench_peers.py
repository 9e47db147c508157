"""The overhead benchmark's peers run for real at a tiny size, so they cannot rot.

Ray Tune runs from this venv; Hydra's Optuna sweeper from its own (made here if missing: a real pip
install, ~30 s). Each must log its trials to MLflow as child runs of one parent, as the textbook loop does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import import_benchmark

overhead = import_benchmark("overhead")
hydra_venv = import_benchmark("peers.hydra_venv")


def _runs(db: Path) -> tuple[Any, list[Any]]:
    """The one parent run and its children in the MLflow SQLite store `db`."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == len(runs) - 1
    return parents[0], children


@pytest.mark.ray
@pytest.mark.slow
def test_ray_tune_peer_runs_and_tracks_each_trial(tmp_path: Path):
    token = Path.home() / ".ray" / "auth_token"
    had_token = token.exists()
    times: dict[str, list[float]] = {"textbook loop": [overhead.time_textbook(3)]}
    for w in (2,):  # one size: Tune's own start is most of the cost
        d = tmp_path / f"w{w}"
        times[f"ray tune workers={w}"] = [overhead.time_raytune(3, w, d)]
        parent, children = _runs(d / "mlflow.db")
        assert len(children) == 3 and parent.info.status == "FINISHED"
        assert all(c.info.status == "FINISHED" and 0 <= c.data.metrics["loss"] <= 25 for c in children)
        assert parent.data.metrics["best_loss"] == min(c.data.metrics["loss"] for c in children)
        assert (d / "ray_results" / "raytune").is_dir() and (d / "optuna.db").exists()
    assert had_token or not token.exists()  # a token there would break the suite's later `ray start` joins
    rows = overhead.rows(times, 3)
    assert [r["name"] for r in rows] == ["textbook loop", "ray tune workers=2"]
    assert rows[0]["ratio"] == 1.0 and all(r["wall_s"] > 0 and r["ms_per_trial"] > 0 for r in rows)
    assert "| ray tune workers=2 |" in overhead.report(times, 3)


@pytest.mark.slow
def test_hydra_peer_runs_from_its_own_venv_and_tracks_each_trial(tmp_path: Path):
    python, _ = hydra_venv.ensure_venv()
    assert hydra_venv.is_ready() and python.exists()
    assert hydra_venv.ensure_venv() == (python, 0.0)  # made once, then reused
    for w in (1, 2):
        d = tmp_path / f"w{w}"
        assert overhead.time_hydra(3, w, d) > 0
        parent, children = _runs(d / "mlflow.db")
        assert len(children) == 3 and parent.info.status == "FINISHED"
        assert sorted(int(c.data.tags["trial.number"]) for c in children) == [0, 1, 2]
        assert parent.data.metrics["best_loss"] == min(c.data.metrics["loss"] for c in children)
        pids = {c.data.tags["worker.pid"] for c in children}
        if w == 1:  # the basic launcher runs every job in Hydra's own process
            assert pids == {parent.data.tags["driver.pid"]}
        else:  # the joblib launcher runs them in its worker processes
            assert parent.data.tags["driver.pid"] not in pids
        assert (d / "optuna.db").exists() and (d / "multirun" / "optimization_results.yaml").exists()
