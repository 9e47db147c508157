"""MLflow down mid-sweep: trials keep running, the study keeps every result, `sweep sync` catches up."""

from __future__ import annotations

import mlflow
import optuna
from conftest import free_port, run_cli, start_cli, start_mlflow_server, stop_mlflow_server, write
from test_resume import count


def test_tracking_server_stopped_and_restarted_mid_sweep(workdir, tmp_path_factory):
    d = tmp_path_factory.mktemp("flaky-mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(d, port)
    write(workdir / "sweep.yaml", f"""
name: down
objective: {{metric: loss}}
params: {{x: "interval(-5.0, 5.0)"}}
trial: {{function: objectives:slowish}}
search: {{method: random}}
n_trials: 14
workers: 2
seed: 2
tracking: {{uri: "{url}"}}
""")
    db = workdir / ".sweeps" / "sweeps.db"
    proc = start_cli(["launch", "sweep.yaml"], workdir)
    try:
        import time

        deadline = time.monotonic() + 120
        while count(db, "COMPLETE") < 3:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        stop_mlflow_server(server)
        assert proc.wait(timeout=300) == 0  # the sweep finishes without its tracking server
    finally:
        if proc.poll() is None:
            proc.kill()
    study = optuna.load_study(study_name="down", storage=f"sqlite:///{db}")
    assert [t.state.name for t in study.trials].count("COMPLETE") == 14

    server = start_mlflow_server(d, port)
    try:
        p = run_cli(["sync", "down"], workdir, check=True)
        assert "synced 14 trials" in p.stdout
        client = mlflow.MlflowClient(tracking_uri=url)
        runs = client.search_runs([client.get_experiment_by_name("down").experiment_id], max_results=100)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(parents) == 1
        finished = sorted(int(k.data.tags["trial.number"]) for k in kids if k.info.status == "FINISHED")
        assert finished == list(range(14)) and not [k for k in kids if k.info.status == "RUNNING"]
        by_number = {t.number: t for t in study.trials}
        for k in kids:
            t = by_number[int(k.data.tags["trial.number"])]
            assert abs(k.data.metrics["loss"] - t.value) < 1e-9 and k.data.tags["trial.state"] == "COMPLETE"
        # a second sync changes nothing
        run_cli(["sync", "down"], workdir, check=True)
        assert len(client.search_runs([client.get_experiment_by_name("down").experiment_id], max_results=100)) == 15
    finally:
        stop_mlflow_server(server)
