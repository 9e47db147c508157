"""The trial's own MLflow run, opened by its worker (a `ViewHook` target, see runtime/views.py).

Creating the child run where the trial runs, just before its code starts, gives the run its true
start time and lets the trial's own `mlflow.start_run()` continue it: the trial's environment
names the run (`MLFLOW_RUN_ID`), the store and the experiment. The run exists before the trial
starts, and the store was created by the writer before the first trial was placed, so trials
logging to MLflow themselves never race to create or migrate it. The writer adopts the run id
when the worker sends it back and logs the rest (params, reports, the end) into it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

TARGET = f"{__name__}:open_run"


class TrialRun:
    def __init__(self, run_id: str, uri: str, experiment_id: str) -> None:
        self.ref: str | None = run_id
        self.env = {"MLFLOW_RUN_ID": run_id, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_ID": experiment_id}

    def close(self) -> None:
        """A function trial that left its run active (start_run without `with`) must not leave it
        to the next trial of this worker."""
        mlflow = sys.modules.get("mlflow")
        if mlflow is None:
            return
        while mlflow.active_run() is not None:
            mlflow.end_run()


def gpu_tags() -> dict[str, str]:
    """The GPUs this trial sees (model, driver, CUDA), when it was given any."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if not visible.strip() or visible.strip() == "-1":
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        head = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    wanted = {v.strip() for v in visible.split(",")}
    rows = [[c.strip() for c in line.split(",")] for line in out.stdout.strip().splitlines()]
    mine = [r for r in rows if len(r) == 4 and (r[0] in wanted or r[1] in wanted)]
    if not mine:
        return {}
    tags = {"gpu.name": ", ".join(r[2] for r in mine), "gpu.driver": mine[0][3], "gpu.count": str(len(mine))}
    if "CUDA Version:" in head:
        tags["gpu.cuda"] = head.split("CUDA Version:", 1)[1].split()[0].strip("|")
    return tags


def open_run(number: int, *, uri: str, experiment_id: str, parent_run_id: str, run_name: str,
             tags: dict[str, str], start_ms: int, params: dict[str, Any] | None = None) -> TrialRun:
    """Create trial `number`'s child run under the sweep's parent run, with its params. It starts
    when the driver placed the trial (`start_ms`), as the study's trial does: a worker's first
    imports are the trial's time too. The params are logged here, not by the writer: a running
    trial shows them in MLflow at once, and the writer, one process for all workers, has a write
    less per trial."""
    from .lookup import quiet_mlflow, unreachable

    down = unreachable(uri)  # a server that is down costs the trial a TCP connect, not MLflow's retries
    if down:
        raise ConnectionError(f"MLflow at {uri} does not answer: {down}")
    quiet_mlflow()
    if uri.startswith("sqlite:///"):
        from .store import commit_without_fsync

        commit_without_fsync()
    from mlflow.tracking import MlflowClient

    all_tags: dict[str, Any] = {"mlflow.parentRunId": parent_run_id, **tags, **gpu_tags()}
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment_id, start_time=start_ms, tags=all_tags, run_name=run_name)
    if params:
        from .layout import param_list

        # if this fails the run exists without params: the writer finds and adopts it, and logs them
        client.log_batch(run.info.run_id, params=param_list(params))
    return TrialRun(run.info.run_id, uri, experiment_id)
