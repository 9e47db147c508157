"""Conditional parameters, drawn define-by-run: after a trial is asked for the parameters every
trial has, each conditional one whose conditions hold is suggested (in the order its conditions
need), through Optuna's public `suggest_*`. A retried trial is enqueued with its params, so the
suggests give the same values back; a parameter whose conditions fail is absent from the trial,
its config and its run, and no sampler models it for that trial.
"""

from __future__ import annotations

from typing import Any

from ..config.space import Param, conditional_order


def suggest(trial: Any, p: Param) -> Any:
    if p.kind == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)


class ConditionalSpace:
    """A sweep's conditional params in the order their conditions need, worked out once (the driver
    draws them for every trial it places)."""

    def __init__(self, params: dict[str, Param]) -> None:
        self.order = conditional_order(params)
        #: what conditions may name besides searched params: the constants every trial has
        self.fixed = {n: p.value for n, p in params.items() if p.is_fixed and not p.is_conditional}

    def draw(self, trial: Any) -> dict[str, Any]:
        """Suggest `trial`'s active conditional params; the active conditional *fixed* ones (constants
        that exist only under their conditions), which the trial's config gets beside its params."""
        known = {**self.fixed, **trial.params}
        fixed: dict[str, Any] = {}
        for p in self.order:
            if not p.active(known):
                continue
            known[p.name] = p.value if p.is_fixed else suggest(trial, p)
            if p.is_fixed:
                fixed[p.name] = p.value
        return fixed

    def missing(self, known: dict[str, Any]) -> list[Param]:
        """The first active conditional param a trial with `known` params lacks ([]: none); a
        trial cut off while its conditional params were drawn is completed one at a time, since
        each value may switch later ones on."""
        values = {**self.fixed, **{p.name: p.value for p in self.order if p.is_fixed}, **known}
        return [p for p in self.order if not p.is_fixed and p.active(values) and p.name not in values][:1]
