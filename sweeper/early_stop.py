"""Early-stop policy → Optuna pruner. Keys use W&B's names so a W&B user's numbers carry over."""

from __future__ import annotations

from typing import Any

from .config import EARLY_STOP_TYPES, SweepSpec
from .errors import SpecError

#: each policy's keys and defaults (None: inferred)
POLICY_KEYS: dict[str, dict[str, Any]] = {
    "none": {},
    "hyperband": {"min_iter": 1, "max_iter": None, "eta": 3},
    "asha": {"min_iter": 1, "eta": 3, "bootstrap_count": 0},
    "median": {"warmup_steps": 0, "startup_trials": 5},
}


def _int(spec: SweepSpec, key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(spec.source, f"early_stop.{key}", f"must be an integer >= {low}, got {value!r}")
    return value


def options(spec: SweepSpec) -> dict[str, Any]:
    """The policy's validated options, defaults filled in."""
    es = spec.early_stop
    if es.type not in EARLY_STOP_TYPES:
        raise SpecError(spec.source, "early_stop", f"unknown type {es.type!r} (allowed: {', '.join(EARLY_STOP_TYPES)})")
    allowed = POLICY_KEYS[es.type]
    for k in es.options:
        if k not in allowed:
            names = ", ".join(allowed) or "none"
            raise SpecError(spec.source, f"early_stop.{k}", f"unknown key for type {es.type!r} (allowed: {names})")
    opts = {**allowed, **es.options}
    if es.type != "none" and spec.search.method == "grid":
        raise SpecError(spec.source, "early_stop", f"{es.type!r} cannot be used with grid search, which must run every "
                        "point to the end (use early_stop=none or another search method)")
    if es.type in ("hyperband", "asha"):
        _int(spec, "min_iter", opts["min_iter"], 1)
        if isinstance(opts["eta"], bool) or not isinstance(opts["eta"], (int, float)) or opts["eta"] <= 1:
            raise SpecError(spec.source, "early_stop.eta", f"must be a number > 1, got {opts['eta']!r}")
    if es.type == "hyperband" and opts["max_iter"] is not None:
        _int(spec, "max_iter", opts["max_iter"], 1)
        if opts["min_iter"] > opts["max_iter"]:
            raise SpecError(spec.source, "early_stop.min_iter",
                            f"min_iter {opts['min_iter']} must not exceed max_iter {opts['max_iter']}")
    if es.type == "asha":
        _int(spec, "bootstrap_count", opts["bootstrap_count"], 0)
    if es.type == "median":
        _int(spec, "warmup_steps", opts["warmup_steps"], 0)
        _int(spec, "startup_trials", opts["startup_trials"], 0)
    return opts


def make_pruner(spec: SweepSpec) -> Any | None:
    opts = options(spec)
    import optuna.pruners as p

    if spec.early_stop.type == "hyperband":
        inner = p.HyperbandPruner(min_resource=opts["min_iter"], max_resource=opts["max_iter"] or "auto",
                                  reduction_factor=opts["eta"])
        return _whole_study(inner)
    if spec.early_stop.type == "asha":
        return p.SuccessiveHalvingPruner(min_resource=opts["min_iter"], reduction_factor=opts["eta"],
                                         bootstrap_count=opts["bootstrap_count"])
    if spec.early_stop.type == "median":
        return p.MedianPruner(n_startup_trials=opts["startup_trials"], n_warmup_steps=opts["warmup_steps"])
    return None


def _whole_study(inner: Any) -> Any:
    """Hyperband that binds pruning to brackets, but not sampling.

    Optuna narrows the sampler to the trials of the new trial's own bracket when the pruner *is* a
    `HyperbandPruner`: with 4 brackets TPE then models a quarter of the study and stays random for
    its first 40 trials. Wrapping the pruner lets the sampler learn from every trial (BOHB's choice:
    one model over all observations) while each bracket's successive halving is unchanged.
    """
    from optuna.pruners import BasePruner

    class WholeStudyHyperband(BasePruner):
        def __init__(self) -> None:
            self.hyperband = inner

        def prune(self, study: Any, trial: Any) -> bool:
            return self.hyperband.prune(study, trial)

    return WholeStudyHyperband()
