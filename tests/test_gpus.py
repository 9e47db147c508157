"""Local GPU placement, exercised without a GPU: SWEEPER_GPUS declares the devices."""

from __future__ import annotations

import mlflow
import pytest
from helpers import run_cli, write

SWEEP = """
name: gpus
objective: {metric: loss}
params: {x: "interval(0.0, 1.0)"}
trial: {function: objectives:gpu_probe}
search: {method: random}
n_trials: 12
resources: {cpus: 1, gpus: GPUS}
"""


def test_half_a_gpu_puts_two_trials_on_each_device_never_more(workdir):
    # hold: the first 4 trials wait for each other, so the 4 slots are seen in use at once
    write(workdir / "sweep.yaml", SWEEP.replace("GPUS", "0.5").replace('params: {x: "interval(0.0, 1.0)"}',
                                                                      'params: {x: "interval(0.0, 1.0)", hold: 4}'))
    p = run_cli(["launch", "sweep.yaml"], workdir, env={"SWEEPER_GPUS": "0,1"})
    assert p.returncode == 0, p.stderr
    spans = []
    for f in sorted(workdir.glob("gpu-*.txt")):
        dev, start, end = f.read_text().split()
        spans.append((dev, float(start), float(end)))
    assert len(spans) == 12 and {d for d, _, _ in spans} == {"0", "1"}
    for dev, start, _ in spans:  # at each trial's start, at most two trials hold its device
        holding = [s for s in spans if s[0] == dev and s[1] <= start < s[2]]
        assert len(holding) <= 2
    assert max(sum(1 for s in spans if s[1] <= t < s[2]) for _, t, _ in spans) == 4  # 4 slots in use
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("gpus").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.tags["setting.workers"] == "4"
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    by_number = {int(k.data.tags["trial.number"]): k for k in kids}
    for f in workdir.glob("gpu-*.txt"):
        number = int(f.stem.split("-")[1])
        assert by_number[number].data.tags["worker.gpus"] == f.read_text().split()[0]


def test_two_gpus_per_trial_and_too_many_asked(workdir):
    write(workdir / "sweep.yaml", SWEEP.replace("GPUS", "2").replace("n_trials: 12", "n_trials: 2"))
    run_cli(["launch", "sweep.yaml"], workdir, env={"SWEEPER_GPUS": "0,1,2,3"}, check=True)
    devices = sorted(f.read_text().split()[0] for f in workdir.glob("gpu-*.txt"))
    assert all(d in ("0,1", "2,3") for d in devices)
    write(workdir / "big.yaml", SWEEP.replace("GPUS", "3").replace("name: gpus", "name: big"))
    p = run_cli(["launch", "big.yaml"], workdir, env={"SWEEPER_GPUS": "0,1"})
    assert p.returncode == 2
    assert p.stderr.strip() == "error: big.yaml: resources.gpus: 3 GPUs per trial, but only 2 (0,1) are available"
    p = run_cli(["launch", "big.yaml"], workdir, env={"SWEEPER_GPUS": ""})
    assert p.returncode == 2 and "no GPU was found" in p.stderr


@pytest.mark.parametrize("gpus, expect", [(0.5, ["0", "1", "0", "1"]), (1, ["0", "1"]), (0.3, ["0", "1"] * 3)])
def test_plan(tmp_path, gpus, expect):
    from sweeper.backends import gpus as g
    from sweeper.config import load

    write(tmp_path / "s.yaml", SWEEP.replace("GPUS", str(gpus)))
    s = load(tmp_path / "s.yaml", [], workdir=str(tmp_path))
    assert [e["CUDA_VISIBLE_DEVICES"] for e in g.plan(s, None, ["0", "1"])] == expect
    assert len(g.plan(s, 1, ["0", "1"])) == 1
