"""MLflow down mid-sweep: trials keep running, the study keeps every result, `sweep sync` catches up."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from helpers import (
    count,
    free_port,
    run_cli,
    start_cli,
    start_mlflow_server,
    stop_mlflow_server,
    wait_for,
    write,
)


@pytest.mark.slow
def test_tracking_server_back_mid_sweep_is_caught_up_without_help(workdir, tmp_path_factory):
    d = tmp_path_factory.mktemp("flaky-mlflow-2")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(d, port)
    write(workdir / "sweep.yaml", f"""
name: back
objective: {{metric: loss}}
params: {{x: "interval(-5.0, 5.0)"}}
trial: {{function: objectives:gated}}
search: {{method: random}}
n_trials: 10
workers: 2
seed: 3
tracking: {{uri: "{url}"}}
""")
    db = workdir / ".sweeps" / "sweeps.db"
    proc = start_cli(["launch", "sweep.yaml"], workdir)
    try:
        # trials 0-3 run with MLflow up; 4 and 5 wait for `down`, the rest for `back` (objectives.gated)
        wait_for(lambda: count(db, "COMPLETE") >= 4, "4 COMPLETE trials before MLflow goes down", proc=proc)
        stop_mlflow_server(server)
        (workdir / "down").touch()
        # down until trials have ended while it was: their writes failed and must be caught up
        wait_for(lambda: count(db, "COMPLETE") >= 6, "trials ending while MLflow is down", proc=proc)
        server = start_mlflow_server(d, port)  # back while trials still wait
        assert proc.poll() is None
        (workdir / "back").touch()
        assert proc.wait(timeout=300) == 0
        client = mlflow.MlflowClient(tracking_uri=url)
        runs = client.search_runs([client.get_experiment_by_name("back").experiment_id], max_results=100)
        kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        finished = sorted(int(k.data.tags["trial.number"]) for k in kids if k.info.status == "FINISHED")
        assert finished == list(range(10)) and len(kids) == 10
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        assert parent.data.tags["sweep.state"] == "FINISHED"
        study = optuna.load_study(study_name="back", storage=f"sqlite:///{db}")
        by_number = {t.number: t for t in study.trials}
        for k in kids:  # runs rebuilt from the study show the study's result as their latest value
            assert abs(k.data.metrics["loss"] - by_number[int(k.data.tags["trial.number"])].value) < 1e-9
        # `sweep sync` by hand finds nothing left to do
        p = run_cli(["sync", "back"], workdir, check=True)
        assert "synced 10 trials" in p.stdout
        again = client.search_runs([client.get_experiment_by_name("back").experiment_id], max_results=100)
        assert len(again) == 11 and sum(r.info.status == "FINISHED" for r in again) == 11
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_mlflow_server(server)
