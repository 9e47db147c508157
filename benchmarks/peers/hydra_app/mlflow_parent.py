"""A Hydra callback that gives a multirun one MLflow parent run, as a Hydra user would add.

Hydra has no MLflow integration, and a job (in-process or a joblib worker) has no handle on the
sweep, so the callback opens the parent in the driver and hands its id to the jobs through the
environment (joblib's worker processes start after it and inherit it). At the end it logs the
best value the Optuna sweeper found.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

PARENT_ENV = "BENCH_MLFLOW_PARENT_RUN_ID"


class MlflowParentRun(Callback):
    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        exp = mlflow.set_experiment(self.experiment)
        run = mlflow.MlflowClient().create_run(exp.experiment_id, run_name="hydra-multirun",
                                               tags={"driver.pid": str(os.getpid())})
        self.run_id = run.info.run_id
        os.environ.update({"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_EXPERIMENT_ID": exp.experiment_id,
                           PARENT_ENV: self.run_id})

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        if self.run_id is None:
            return
        client = mlflow.MlflowClient()
        results = Path(config.hydra.sweep.dir) / "optimization_results.yaml"
        if results.exists():  # the Optuna sweeper writes it after the last batch
            best = OmegaConf.load(results)
            client.log_metric(self.run_id, "best_loss", float(best.best_value))
            client.set_tag(self.run_id, "best.x", best.best_params.x)
        client.set_terminated(self.run_id)
