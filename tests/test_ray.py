"""The same YAML on a real Ray cluster (joined by address): layout, pruning, GPUs, resume."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from helpers import (
    check_exactly_once,
    kill_when,
    run_cli,
    start_cli,
    start_ray_node,
    stop_process_group,
    write,
)

# every test here joins the module's real Ray cluster (`make test` runs each module on one xdist worker)
pytestmark = pytest.mark.ray

SWEEP = """
defaults:
  - search: random
  - early_stop: asha
  - backend: ray
  - _self_
name: onray
objective: {metric: loss}
params:
  x: interval(-10.0, 10.0)
  max_steps: 27
trial: {function: objectives:ray_curves}
backend: {address: "ADDRESS"}
resources: {cpus: 1, gpus: 1}
n_trials: 16
seed: 4
"""


@pytest.mark.slow
def test_sweep_on_a_joined_ray_cluster_with_gpus_and_pruning(workdir, ray_cluster):
    write(workdir / "sweep.yaml", SWEEP.replace("ADDRESS", ray_cluster))
    p = run_cli(["launch", "sweep.yaml", "workers=4"], workdir, timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr
    # the 2-CPU cluster holds 2 trials of 1 CPU: Ray places by resources, and the user is told
    assert ("warning: workers=4, but the Ray cluster runs 2 trials at a time: CPUs are short "
            "(resources.cpus=1 per trial, 2 CPUs in the cluster)") in p.stdout, p.stdout
    study = optuna.load_study(study_name="onray", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 16 and states.count("PRUNED") >= 4
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("onray").experiment_id], max_results=100)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.tags["setting.backend"] == "ray" and parent.data.tags["setting.workers"] == "2"
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(kids) == 16 and len(runs) == 17  # each trial's own mlflow.start_run() continued its trial run
    assert all(k.data.tags.get("ray.node_id") for k in kids)
    assert all("own_metric" in k.data.metrics for k in kids)
    assert {k.data.tags["worker.gpus"] for k in kids} <= {"0", "1"}
    complete = [k for k in kids if k.data.tags["trial.state"] == "COMPLETE"]
    assert complete and all(k.data.metrics["gpu_seen"] == 1.0 for k in complete)
    pruned = [k for k in kids if k.data.tags["trial.state"] == "PRUNED"]
    assert all(k.info.status == "FINISHED" and int(k.data.tags["trial.last_step"]) in (1, 3, 9) for k in pruned)


@pytest.mark.slow
def test_resume_on_ray_after_the_driver_is_killed(workdir, ray_cluster):
    text = SWEEP.replace("ADDRESS", ray_cluster).replace("early_stop: asha", "early_stop: none")
    write(workdir / "sweep.yaml", text.replace("objectives:ray_curves", "objectives:slowish").replace("max_steps: 27", "max_steps: 3"))
    db = workdir / ".sweeps" / "sweeps.db"
    # the driver is cut off mid-trial; its actors live on in the cluster until Ray reaps them
    kill_when(start_cli(["launch", "sweep.yaml"], workdir), db, 3, timeout=200)
    p = run_cli(["resume", "onray"], workdir, timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr
    check_exactly_once(workdir, "onray", 16)


def test_ray_errors_are_clear(workdir, ray_cluster):
    write(workdir / "sweep.yaml", SWEEP.replace("ADDRESS", ray_cluster).replace("gpus: 1}", "gpus: 4}"))
    p = run_cli(["launch", "sweep.yaml"], workdir, timeout=200)
    assert p.returncode == 2
    assert p.stderr.strip() == "error: sweep.yaml: resources.gpus: 4 GPUs per trial, but no Ray node has more than 2"
    write(workdir / "sweep.yaml", SWEEP.replace("ADDRESS", "127.0.0.1:1"))
    p = run_cli(["launch", "sweep.yaml"], workdir, timeout=200)
    assert p.returncode == 2 and "backend.address: cannot reach Ray at 127.0.0.1:1" in p.stderr
    assert not (workdir / ".sweeps").exists()


TWO_NODES = """
defaults:
  - search: random
  - backend: ray
  - _self_
name: twonodes
objective: {metric: loss}
params: {x: "interval(-10.0, 10.0)"}
trial: {function: objectives:node_log}
backend: {address: "ADDRESS"STORAGE}
resources: {cpus: 1}
workers: 3
n_trials: 9
seed: 1
"""


@pytest.mark.slow
def test_a_second_node_ships_its_logs_home_and_shares_checkpoints(workdir, ray_cluster, tmp_path):
    """A real second Ray node (its own raylet, joined on loopback): what a trial printed there
    reaches MLflow, and with backend.storage its checkpoints land in the shared folder."""
    node = start_ray_node(ray_cluster, tmp_path / "node2.log")
    try:
        write(workdir / "sweep.yaml", TWO_NODES.replace("ADDRESS", ray_cluster)
              .replace("STORAGE", f", storage: {tmp_path / 'shared'}"))
        p = run_cli(["launch", "sweep.yaml"], workdir, timeout=400)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "backend.storage is not set" not in p.stdout + p.stderr
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
        runs = client.search_runs([client.get_experiment_by_name("twonodes").experiment_id], max_results=100)
        kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(kids) == 9 and len({k.data.tags["ray.node_id"] for k in kids}) == 2
        for k in kids:
            n = k.data.tags["trial.number"]
            local = client.download_artifacts(k.info.run_id, "stdout.txt", str(tmp_path))
            assert open(local).read().startswith(f"trial {n} says x="), n
        markers = sorted(p.parent.name for p in (tmp_path / "shared" / "twonodes" / "checkpoints").glob("*/marker"))
        assert markers == sorted(f"trial-{i}" for i in range(9))
        assert not (workdir / ".sweeps" / "checkpoints").exists()
        # without a shared folder a multi-node sweep says what happens to checkpoints, and still runs
        write(workdir / "sweep.yaml", TWO_NODES.replace("ADDRESS", ray_cluster).replace("STORAGE", "")
              .replace("twonodes", "twonodes-b").replace("n_trials: 9", "n_trials: 1"))
        p = run_cli(["launch", "sweep.yaml"], workdir, timeout=400)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "backend.storage is not set" in p.stdout + p.stderr
    finally:
        stop_process_group(node)
