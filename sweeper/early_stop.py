"""Early-stop policy → Optuna pruner. Keys use W&B's names so a W&B user's numbers carry over."""

from __future__ import annotations

from typing import Any

from .config.spec import SweepSpec
from .errors import SpecError


def check(spec: SweepSpec) -> None:
    """What no single key can say: the policy against the objectives, and keys against each other.
    Each key's own bounds and defaults are the schema's (`config/schema.py`). Grid search takes any
    policy: a pruned point counts as run (`search/grid.py`), as in W&B."""
    es, opts = spec.early_stop, spec.early_stop.options
    if es.type != "none" and len(spec.objectives) > 1:
        # Optuna's pruners compare one intermediate value per step and refuse several objectives;
        # pruning on the first one alone would throw away trials good on the others
        raise SpecError(spec.source, "early_stop", f"{es.type!r} judges one objective, this sweep has "
                        f"{len(spec.objectives)}: use early_stop=none (or one objective and constraints)")
    if spec.budget.target is not None and len(spec.objectives) > 1:
        raise SpecError(spec.source, "budget.target", "a target is one objective's value, this sweep has "
                        f"{len(spec.objectives)}: use budget.steps, budget.time or n_trials")
    if es.type == "hyperband" and opts.get("max_iter") is not None and opts["min_iter"] > opts["max_iter"]:
        raise SpecError(spec.source, "early_stop.min_iter",
                        f"min_iter {opts['min_iter']} must not exceed max_iter {opts['max_iter']}")


def make_pruner(spec: SweepSpec) -> Any | None:
    """The Optuna pruner for the sweep's policy; None for `none` (every trial runs to its end)."""
    from .config.schema import group_defaults

    opts = {**group_defaults("early_stop", spec.early_stop.type), **spec.early_stop.options}
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
