"""The plugin's config: `hydra/sweeper: sweeper` and its `hydra/sweeper/sampler` options, registered in
Hydra's ConfigStore when Hydra scans `hydra_plugins`.

The node has hydra-optuna-sweeper's keys, defaults and sampler groups (same names, same arguments),
so a config written for it runs with `override hydra/sweeper: optuna` changed to `sweeper`; then
sweeper's own keys. Plain data only: Hydra imports this module on every start of every app, so it
imports nothing but Hydra's ConfigStore (no Optuna, no MLflow, no sweeper).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class SweeperSweeperConf:
    _target_: str = "hydra_plugins.sweeper_sweeper.sweeper_sweeper.SweeperSweeper"
    _recursive_: bool = False  # the sampler node is read, not instantiated (its _target_ names the method)
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])

    # --- hydra-optuna-sweeper's keys, same meaning (README: "Coming from Hydra's Optuna sweeper")
    sampler: Any = MISSING
    direction: Any = "minimize"  # or a list: several objectives
    # null: the sweep lives in sweeper's own store, sqlite:///.sweeps/sweeps.db (not in memory):
    # it is what a rerun resumes, `sweep status` reads and MLflow is rebuilt from
    storage: Any | None = None
    study_name: str | None = None  # null: the app's job name
    n_trials: int = 20
    n_jobs: int = 2  # workers, each taking the next trial as soon as it is free (no batches)
    max_failure_rate: float = 0.0  # of n_trials: max_failures = floor(rate * n_trials)
    params: Any = None
    custom_search_space: str | None = None  # module.function(cfg, trial), define-by-run

    # --- sweeper's own (the sweep file's keys of the same names)
    metric: Any | None = None  # the objectives' names; null: objective (objective_0, ... for several)
    early_stop: Any = None  # e.g. {type: hyperband, max_iter: 9}; the task calls sweeper.report
    timeout: float | None = None  # seconds before a trial is killed
    retries: int = 0  # re-runs of a trial that crashed by itself
    max_failures: int | None = None  # wins over max_failure_rate
    tracking: Any = None  # {uri, experiment}; null uri: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    backend: Any = None  # {type: local} or {type: ray, address: ...}
    resources: Any = None  # {cpus, gpus} per trial
    budget: Any = None
    constraints: Any = None
    seed_trials: Any = None
    warm_start: Any = None


#: hydra-optuna-sweeper's sampler options with its defaults (None: Optuna's own default)
SAMPLERS: dict[str, dict[str, Any]] = {
    "tpe": {"_target_": "optuna.samplers.TPESampler", "seed": None, "consider_prior": None, "prior_weight": None,
            "consider_magic_clip": None, "consider_endpoints": None, "n_startup_trials": 10, "n_ei_candidates": 24,
            "multivariate": False, "warn_independent_sampling": None},
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": None, "x0": None, "sigma0": None,
              "warn_independent_sampling": True, "consider_pruned_trials": False, "restart_strategy": None,
              "inc_popsize": None, "use_separable_cma": False},
    "nsgaii": {"_target_": "optuna.samplers.NSGAIISampler", "seed": None, "population_size": 50,
               "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5},
    "nsgaiii": {"_target_": "optuna.samplers.NSGAIIISampler", "seed": None, "population_size": 50,
                "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5},
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": None},
    "gp": {"_target_": "optuna.samplers.GPSampler", "seed": None, "n_startup_trials": 10,
           "deterministic_objective": False, "warn_independent_sampling": True},
    "qmc": {"_target_": "optuna.samplers.QMCSampler", "seed": None, "qmc_type": "sobol", "scramble": False,
            "warn_asynchronous_seeding": True, "warn_independent_sampling": True},
    # removed in Optuna 4: kept so the config is refused with a line saying what to use
    "motpe": {"_target_": "optuna.samplers.MOTPESampler"},
}

cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="sweeper", node=SweeperSweeperConf, provider="sweeper")
for _name, _node in SAMPLERS.items():
    cs.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="sweeper")
