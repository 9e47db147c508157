"""The baseline: the sweep loop as the textbooks write it, doing the same work as sweeper.

Optuna `study.optimize` with the same sampler on SQLite, an MLflow parent run, and a nested
child run per trial logging params, metrics and tags with the fluent API; the parent tracks the
best value. Usage: python textbook_loop.py N_TRIALS WORKDIR. Prints its wall time (imports included).
"""

from __future__ import annotations

import os
import socket
import sys
import time

t0 = time.perf_counter()
import mlflow  # noqa: E402
import optuna  # noqa: E402

n, workdir = int(sys.argv[1]), sys.argv[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)
mlflow.set_tracking_uri(f"sqlite:///{workdir}/textbook-mlflow.db")
mlflow.set_experiment("textbook")
study = optuna.create_study(study_name="textbook", storage=f"sqlite:///{workdir}/textbook.db",
                            sampler=optuna.samplers.TPESampler(seed=7, n_startup_trials=10), direction="minimize")


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    loss = x**2
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.log_params({"x": x})
        mlflow.log_metrics({"loss": loss})
        mlflow.set_tags({"trial.number": trial.number, "trial.state": "COMPLETE",
                         "worker.host": socket.gethostname(), "worker.pid": os.getpid()})
    return loss


def track_best(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    mlflow.log_metric("best_loss", study.best_value, step=trial.number + 1)
    mlflow.set_tag("best.x", study.best_params["x"])


with mlflow.start_run(run_name="textbook"):
    study.optimize(objective, n_trials=n, callbacks=[track_best])
print(f"{time.perf_counter() - t0:.3f}")
