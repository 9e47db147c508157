"""A BOHB-style sampler (Falkner et al. 2018) written as an Optuna sampler, and a launcher for it.

BOHB pairs Hyperband's brackets with one TPE model that is fitted, for each new configuration, on
the observations of the largest budget that has enough of them. Here a budget is a step at which
trials reported an intermediate value, and a trial counts at budget b when it reported a value at
step b, whatever its state (running, pruned or complete). For each new trial:
- b is the largest step with at least `min_points` such trials; `min_points` defaults to
  max(d + 2, 10), d the number of parameters modelled. d + 2 is BOHB's |D_b| >= N_min + 2 with its
  N_min = d + 1 written as d + 1 + 1 (a model over d dimensions needs more points than dimensions);
  the floor 10 is sweeper's TPE preset's `n_startup_trials`, so the model starts from as many
  observations as TPE's own does (with d = 4, as in the benchmarks, d + 2 would fit TPE on 6 points,
  1 of them "good" by TPE's split);
- a fraction `random_fraction` of new trials (BOHB's rho, 1/3) is drawn at random, and so is every
  trial before any budget has `min_points` observations;
- otherwise a multivariate `TPESampler` is fitted on those trials' values at step b, in a temporary
  in-memory study (the trials still running without a value at b join it as running trials, so
  the constant liar keeps 4 workers from asking for the same point), and asked for the new point.
A study whose trials report no intermediate values is modelled on its completed trials' values.
Parameters outside the relative search space (conditional ones) are sampled at random. Public
Optuna APIs only; deterministic for a seed (the sampler's own random state seeds each inner TPE).

Sweeper's hyperband already lets TPE model the whole study (`WholeStudyHyperband`), so BOHB's pruner
half is there; this is its sampler half. The launcher registers the method `bohb` in
`sweeper.search.METHODS` and runs sweeper's CLI, so `benchmarks/early_stop.py` measures it through
`sweep launch` without shipping it:

    python benchmarks/bohb.py launch sweep.yaml        # sweep.yaml has `defaults: [search: bohb]`
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

#: the model never starts on fewer observations than this (sweeper's TPE preset: n_startup_trials 10)
MIN_POINTS_FLOOR = 10
#: the states whose values at a step count as observations of that budget
_OBSERVED = (TrialState.RUNNING, TrialState.PRUNED, TrialState.COMPLETE)


class BOHBSampler(BaseSampler):
    """BOHB's model: multivariate TPE on the largest budget with enough observations, 1/3 random.

    Args:
        seed: seeds the random draws and every inner TPE: the same seed, the same samples.
        random_fraction: the share of trials drawn at random once a model exists (BOHB's rho).
        min_points: observations a budget needs before it is modelled; None: max(d + 2, 10).
        n_ei_candidates: candidates TPE scores per new trial (Optuna's default, 24).
        constant_liar: running trials without a value at the budget count as bad (as sweeper's TPE).
    """

    def __init__(self, seed: int | None = None, random_fraction: float = 1 / 3, min_points: int | None = None,
                 n_ei_candidates: int = 24, constant_liar: bool = True) -> None:
        if not 0.0 <= random_fraction <= 1.0:
            raise ValueError(f"random_fraction must be in [0, 1], got {random_fraction}")
        if min_points is not None and min_points < 2:
            raise ValueError(f"min_points must be at least 2, got {min_points}")
        self.seed = seed
        self.random_fraction = random_fraction
        self.min_points = min_points
        self.n_ei_candidates = n_ei_candidates
        self.constant_liar = constant_liar
        self._rng = np.random.RandomState(seed)
        self._random = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        #: the budget (step, or None for final values) and its observations at the last model, for tests
        self.last_budget: tuple[int | None, int] | None = None

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if len(study.directions) > 1:
            raise ValueError("BOHBSampler models one objective; this study has several")
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def needed(self, d: int) -> int:
        return self.min_points if self.min_points is not None else max(d + 2, MIN_POINTS_FLOOR)

    def budget(self, trials: Sequence[FrozenTrial], space: dict[str, BaseDistribution],
               exclude: int | None = None) -> tuple[int | None, list[tuple[FrozenTrial, float]]] | None:
        """The largest budget with enough observations, and those (trial, value at it); None if none.

        Only trials that sampled every parameter of `space` from the same distribution count."""
        fits = [t for t in trials if t.number != exclude and t.state in _OBSERVED
                and all(n in t.params and t.distributions[n] == d for n, d in space.items())]
        need = self.needed(len(space))
        if not any(t.intermediate_values for t in trials):  # no step reported anywhere: final values
            done = [(t, float(t.value)) for t in fits if t.state == TrialState.COMPLETE
                    and t.value is not None and math.isfinite(t.value)]
            return (None, done) if len(done) >= need else None
        counts: dict[int, int] = {}
        for t in fits:
            for step, v in t.intermediate_values.items():
                if math.isfinite(v):
                    counts[step] = counts.get(step, 0) + 1
        ready = [step for step, n in counts.items() if n >= need]
        if not ready:
            return None
        b = max(ready)
        return b, [(t, float(t.intermediate_values[b])) for t in fits
                   if b in t.intermediate_values and math.isfinite(t.intermediate_values[b])]

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        # both draws every time, so one trial's draws do not depend on whether a model was ready
        coin, inner_seed = self._rng.random_sample(), int(self._rng.randint(2**31 - 1))
        trials = study.get_trials(deepcopy=False)
        found = self.budget(trials, search_space, exclude=trial.number)
        if found is None or coin < self.random_fraction:
            return {}  # every parameter from sample_independent: random
        b, observed = found
        self.last_budget = (b, len(observed))
        seen = {t.number for t, _ in observed}
        pending = [t for t in trials if self.constant_liar and t.state == TrialState.RUNNING
                   and t.number != trial.number and t.number not in seen
                   and all(n in t.params and t.distributions[n] == d for n, d in search_space.items())]
        with warnings.catch_warnings():  # multivariate TPE is "experimental" in Optuna's terms
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            tpe = TPESampler(multivariate=True, seed=inner_seed, n_startup_trials=0,
                             n_ei_candidates=self.n_ei_candidates, constant_liar=self.constant_liar)
        direction = "minimize" if study.direction == StudyDirection.MINIMIZE else "maximize"
        model = optuna.create_study(direction=direction, sampler=tpe)
        model.add_trials([optuna.trial.create_trial(params={n: t.params[n] for n in search_space},
                                                    distributions=dict(search_space), value=v)
                          for t, v in observed]
                         + [optuna.trial.create_trial(state=TrialState.RUNNING,
                                                      params={n: t.params[n] for n in search_space},
                                                      distributions=dict(search_space)) for t in pending])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            asked = model.ask(fixed_distributions=dict(search_space))
        return {n: asked.params[n] for n in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)


def register() -> None:
    """Make `search: bohb` a method of sweeper (in this process only)."""
    from sweeper.search import METHODS

    METHODS.setdefault("bohb", lambda: BOHBSampler)


if __name__ == "__main__":
    register()
    from sweeper.cli import run

    run()
