"""Search method → Optuna sampler: a registry, plus the checks Optuna only makes late.

A method is one entry of `METHODS` (a factory of its sampler class); its preset arguments live in
`conf/search/NAME.yaml`, and the sampler's own signature validates what a sweep file adds.
Grid search is ours (`grid.py`), every other method is Optuna's sampler as it is.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

from ..config.spec import SweepSpec
from ..errors import SpecError
from .grid import grid_size as _size
from .grid import grid_space

# options our spec sets itself and the user must not pass again
_RESERVED = {"seed", "search_space", "space", "storage"}


def _optuna(name: str) -> Callable[[], Any]:
    def cls() -> Any:
        import optuna.samplers

        return getattr(optuna.samplers, name)
    return cls


def _grid() -> Any:
    from .grid import make_sampler

    return make_sampler


#: method name → its sampler's class (or factory): registering a method is one line here
METHODS: dict[str, Callable[[], Any]] = {
    "grid": _grid,
    "random": _optuna("RandomSampler"),
    "tpe": _optuna("TPESampler"),
    "gp": _optuna("GPSampler"),
    "cmaes": _optuna("CmaEsSampler"),
    "nsgaii": _optuna("NSGAIISampler"),
    "nsgaiii": _optuna("NSGAIIISampler"),
    "qmc": _optuna("QMCSampler"),
}
#: methods whose sampler models one objective only
SINGLE_OBJECTIVE = {"cmaes"}
#: what a method needs installed, and how to get it
_NEEDS = {"gp": ("torch", "method 'gp' needs PyTorch: pip install torch (or use search=tpe)"),
          "cmaes": ("cmaes", "method 'cmaes' needs the cmaes package: pip install cmaes")}


def grid_size(spec: SweepSpec) -> int:
    return _size(grid_space(spec.params, spec.source))


def check(spec: SweepSpec) -> None:
    """Fail at launch for what Optuna would only notice at trial 10 (GP without torch, ...)."""
    method = spec.search.method
    if method not in METHODS:
        raise SpecError(spec.source, "search.method", f"unknown method {method!r} (allowed: {', '.join(METHODS)})")
    if method in _NEEDS and importlib.util.find_spec(_NEEDS[method][0]) is None:
        raise SpecError(spec.source, "search", _NEEDS[method][1])
    if method == "grid":
        grid_space(spec.params, spec.source)
        if spec.seed_trials:
            raise SpecError(spec.source, "seed_trials", "grid search runs every point of the grid once: seed trials "
                            "would run points twice (use another method, or leave them out)")
        if spec.search.configure is not None:
            raise SpecError(spec.source, "search.configure", "grid search enumerates a fixed space: the params "
                            "search.configure adds cannot be enumerated (use another method)")
        if spec.warm_start is not None:
            raise SpecError(spec.source, "warm_start", "grid search runs every point of the grid whatever ran "
                            "before: a warm start informs a model-based method (use tpe, gp, ...)")
    if len(spec.objectives) > 1 and method in SINGLE_OBJECTIVE:
        several = sorted(set(METHODS) - SINGLE_OBJECTIVE)
        raise SpecError(spec.source, "search", f"{method} optimises one objective, this sweep has "
                        f"{len(spec.objectives)} (use one of: {', '.join(several)})")
    allowed = sorted(set(inspect.signature(METHODS[method]()).parameters) - _RESERVED)
    for k in spec.search.options:
        if k not in allowed:
            raise SpecError(spec.source, f"search.{k}", f"unknown option for method {method!r} (allowed: {', '.join(allowed) or 'none'})")


def advice(spec: SweepSpec) -> list[str]:
    """Warnings for a sweep that runs but not as its author likely expects; said once at launch.

    CMA-ES models only numbers: Optuna samples each categorical parameter at random instead and
    logs a long warning about it on every trial. One line up front says it, and what to use.
    """
    if spec.search.method != "cmaes":
        return []
    searched = [p for p in spec.params.values() if not p.is_fixed]
    categorical = [p.name for p in searched if p.kind == "categorical"]
    if not categorical:
        return []
    if len(categorical) == len(searched):
        return [f"{spec.source}: search: cmaes models only int and float parameters, and every parameter here is "
                f"categorical ({', '.join(categorical)}): this sweep is random search (tpe and gp model choices)"]
    which = f"parameter {categorical[0]}" if len(categorical) == 1 else f"parameters {', '.join(categorical)}"
    return [f"{spec.source}: search: cmaes samples the categorical {which} at random "
            "(CMA-ES models only int and float parameters; tpe and gp model choices)"]


def make_sampler(spec: SweepSpec, resumed_trials: int = 0, storage: Any = None) -> Any:
    """`resumed_trials` shifts the seed on resume: the same seed would replay the same samples.
    `storage` is the study's storage, for a sampler that writes to it (grid)."""
    check(spec)
    cls = METHODS[spec.search.method]()
    kwargs = dict(spec.search.options)
    if spec.search.method == "grid":
        kwargs["space"] = grid_space(spec.params, spec.source)
        kwargs["storage"] = storage
    if spec.search.method == "cmaes":  # `advice` says it once at launch; Optuna would say it every trial
        kwargs.setdefault("warn_independent_sampling", False)
    try:
        seed = None if spec.seed is None else spec.seed + resumed_trials
        if spec.search.method == "grid":
            # the grid shuffles its points with the seed, and a trial's grid_id indexes that order:
            # every process of one sweep (resumes, agents) must shuffle alike
            seed = spec.seed or 0
        return cls(seed=seed, **kwargs)
    except (TypeError, ValueError) as e:
        raise SpecError(spec.source, "search", f"{spec.search.method}: {e}") from None


def attach_storage(sampler: Any, storage: Any) -> None:
    """Give a sampler that writes to the study's storage (grid) the storage it works on."""
    from .grid import is_grid

    if is_grid(sampler):
        sampler.storage = storage
