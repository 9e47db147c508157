"""The Ray Tune peer of benchmarks/overhead.py: the same trivial sweep as a Ray Tune user writes it.

`Tuner` over a function trainable, `OptunaSearch` with the same TPE sampler (seed 7, 10 startup
trials) on a SQLite study like the textbook loop, `max_concurrent_trials=WORKERS`, and Ray's own
`MLflowLoggerCallback` on a SQLite tracking store. Tune creates no parent run; the way a Tune
user nests trial runs is to create one and pass `mlflow.parentRunId` in the callback's `tags`,
which is done here, and the parent gets the best loss at the end, as in textbook_loop.py.

Choices: `reuse_actors=True`, because a tuned user with short trials sets it (with the default a
fresh worker process starts per trial: ~1 trial/s on this machine, ~34/s reused, per STACK.md). Ray runs privately
on loopback with its temp folder and Tune's storage in scratch places, not /tmp/ray nor
~/ray_results; like sweeper's own local Ray it runs without token auth (RAY_AUTH_MODE=disabled,
else Ray 2.60 writes ~/.ray/auth_token and later `ray start` joins on this machine fail) and
without usage-stats reporting. Ray turns `_node_ip_address="127.0.0.1"` into the machine's outward
address on Linux; RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (its single-machine mode) keeps it on loopback.
`--storage memory` keeps the study in memory, OptunaSearch's default.

Usage: python raytune_loop.py N_TRIALS WORKERS WORKDIR [--storage sqlite|memory].
Prints its wall time (imports and Ray start-up included).
"""

from __future__ import annotations

import os
import time

t0 = time.perf_counter()
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

import mlflow  # noqa: E402
import optuna  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.air.integrations.mlflow import MLflowLoggerCallback  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402


def trainable(config: dict[str, Any]) -> None:
    """The trivial objective; Tune's reporting call is `ray.tune.report` (not `ray.train.report`)."""
    tune.report({"loss": config["x"] ** 2})


def run(n_trials: int, workers: int, workdir: str, storage: str = "sqlite") -> float:
    """Run the sweep; returns the best loss."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uri = f"sqlite:///{workdir}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.set_experiment("raytune")
    client = mlflow.MlflowClient(uri)
    parent = client.create_run(exp.experiment_id, run_name="raytune").info.run_id
    ray_tmp = tempfile.mkdtemp(prefix="tune-ray-")  # short: Ray's socket paths have a length limit
    ray.init(num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False, _temp_dir=ray_tmp,
             _node_ip_address="127.0.0.1", logging_level="ERROR")
    try:
        study_storage = optuna.storages.RDBStorage(f"sqlite:///{workdir}/optuna.db") if storage == "sqlite" else None
        search = OptunaSearch(metric="loss", mode="min", storage=study_storage, study_name="raytune",
                              sampler=optuna.samplers.TPESampler(seed=7, n_startup_trials=10))
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(-5.0, 5.0)},
            tune_config=tune.TuneConfig(search_alg=search, num_samples=n_trials, max_concurrent_trials=workers,
                                        reuse_actors=True),
            run_config=tune.RunConfig(
                name="raytune", storage_path=f"{workdir}/ray_results", verbose=0,
                callbacks=[MLflowLoggerCallback(tracking_uri=uri, experiment_name="raytune",
                                                tags={"mlflow.parentRunId": parent})]),
        )
        results = tuner.fit()
        best = results.get_best_result(metric="loss", mode="min")
        client.log_metric(parent, "best_loss", best.metrics["loss"])
        client.set_tag(parent, "best.x", best.config["x"])
        client.set_terminated(parent)
        if results.num_errors:
            raise SystemExit(f"{results.num_errors} trials failed")
        return float(best.metrics["loss"])
    finally:
        ray.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_trials", type=int)
    ap.add_argument("workers", type=int)
    ap.add_argument("workdir")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    a = ap.parse_args()
    run(a.n_trials, a.workers, os.path.abspath(a.workdir), a.storage)
    print(f"{time.perf_counter() - t0:.3f}")
