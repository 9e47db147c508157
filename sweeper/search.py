"""Search method → Optuna sampler: a small map, plus the checks Optuna only makes late."""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

from .config import SEARCH_METHODS, SweepSpec
from .errors import SpecError
from .space import grid_space

# options our spec sets itself and the user must not pass again
_RESERVED = {"seed", "search_space"}


def _grid_class() -> Any:
    from optuna.samplers import GridSampler

    class Grid(GridSampler):  # type: ignore[misc]
        """GridSampler without its `study.stop()`: our driver counts n_trials itself, and stop()
        raises outside `study.optimize` (it also re-reads every trial after each one)."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return Grid


def _sampler_class(method: str) -> Any:
    import optuna.samplers as s

    if method == "grid":
        return _grid_class()
    return { "random": s.RandomSampler, "tpe": s.TPESampler,
            "gp": s.GPSampler, "cmaes": s.CmaEsSampler}[method]


def check(spec: SweepSpec) -> None:
    """Fail at launch for what Optuna would only notice at trial 10 (GP without torch, ...)."""
    method = spec.search.method
    if method not in SEARCH_METHODS:
        raise SpecError(spec.source, "search.method", f"unknown method {method!r} (allowed: {', '.join(SEARCH_METHODS)})")
    if method == "gp" and importlib.util.find_spec("torch") is None:
        raise SpecError(spec.source, "search", "method 'gp' needs PyTorch: pip install torch (or use search=tpe)")
    if method == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise SpecError(spec.source, "search", "method 'cmaes' needs the cmaes package: pip install cmaes")
    if method == "grid":
        grid_space(spec.params, spec.source)
    allowed = sorted(set(inspect.signature(_sampler_class(method)).parameters) - _RESERVED)
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


def make_sampler(spec: SweepSpec, resumed_trials: int = 0) -> Any:
    """`resumed_trials` shifts the seed on resume: the same seed would replay the same samples."""
    check(spec)
    cls = _sampler_class(spec.search.method)
    kwargs = dict(spec.search.options)
    if spec.search.method == "grid":
        kwargs["search_space"] = grid_space(spec.params, spec.source)
    if spec.search.method == "cmaes":  # `advice` says it once at launch; Optuna would say it every trial
        kwargs.setdefault("warn_independent_sampling", False)
    try:
        seed = None if spec.seed is None else spec.seed + resumed_trials
        if spec.search.method == "grid":
            # GridSampler shuffles its grid with the seed, and a trial's grid_id indexes that order:
            # every process of one sweep (resumes, agents) must shuffle alike
            seed = spec.seed or 0
        return cls(seed=seed, **kwargs)
    except (TypeError, ValueError) as e:
        raise SpecError(spec.source, "search", f"{spec.search.method}: {e}") from None
