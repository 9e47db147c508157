"""The Hydra peer's task: loss = x**2, each job logged as a nested MLflow run (like textbook_loop.py).

Run with `-m` so Hydra's Optuna sweeper (config: conf/config.yaml) drives it. The parent run comes
from the `mlflow_parent` callback; tracking URI and experiment come through MLflow's environment
variables that the callback sets.
"""

from __future__ import annotations

import os
import socket

import hydra
import mlflow
from hydra.core.hydra_config import HydraConfig
from mlflow_parent import PARENT_ENV
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    x = float(cfg.x)
    loss = x**2
    num = HydraConfig.get().job.num
    with mlflow.start_run(run_name=f"trial-{num}", parent_run_id=os.environ.get(PARENT_ENV)):
        mlflow.log_params({"x": x})
        mlflow.log_metrics({"loss": loss})
        mlflow.set_tags({"trial.number": num, "trial.state": "COMPLETE", "worker.host": socket.gethostname(),
                         "worker.pid": os.getpid()})
    return loss


if __name__ == "__main__":
    main()
