"""The trial's own MLflow run, as its worker starts it (a `ViewHook` target, see runtime/views.py).

The writer creates the run when the driver places the trial (writer.py's opener), with the
trial's true start time and its params; the worker only hands the trial its id, the store and the
experiment (`MLFLOW_RUN_ID`, ...), so the trial's own `mlflow.start_run()` continues it. The
worker imports no MLflow for this: a trial that never touches MLflow costs its worker nothing,
not the seconds of CPU and ~150 MB an `import mlflow` takes.
"""

from __future__ import annotations

import os
import subprocess
import sys

TARGET = f"{__name__}:adopt_run"


class TrialRun:
    def __init__(self, run_id: str, uri: str, experiment_id: str) -> None:
        self.ref: str | None = run_id
        self.env = {"MLFLOW_RUN_ID": run_id, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_ID": experiment_id}
        self.tags = gpu_tags()

    def close(self) -> None:
        """A function trial that left its run active (start_run without `with`) must not leave it
        to the next trial of this worker."""
        mlflow = sys.modules.get("mlflow")
        if mlflow is None:
            return
        while mlflow.active_run() is not None:
            mlflow.end_run()


def gpu_tags() -> dict[str, str]:
    """The GPUs this trial sees (model, driver, CUDA), when it was given any: asked where the trial
    runs, since on Ray that is another machine than the writer's."""
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


def adopt_run(number: int, *, run_id: str, uri: str, experiment_id: str) -> TrialRun:
    """Trial `number` runs in the run the writer created for it."""
    return TrialRun(run_id, uri, experiment_id)
