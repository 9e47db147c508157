"""Grid search that owns its list of points.

The points are the product of each parameter's values, parameters in name order, shuffled once
by the sweep's seed: the same list, in the same order, that Optuna's `GridSampler` builds, so a
trial's `grid_id` names the same point in every process of a sweep (resumes, agents) and in
studies started before this module existed. Owning the list lets the driver complete the params of
a trial cut off inside `ask` from its `grid_id` without reading a sampler's private fields, and
leaves counting trials to the driver (Optuna's sampler calls `study.stop()` when the grid is
spent, which raises outside `study.optimize`).

Writes go through the storage's public methods; the sampler is given the storage it works on,
since Optuna hands a sampler a `Study` whose storage is private. Unlike Optuna's sampler, a trial
numbered below the grid's size takes the point of its number only while that point is unvisited
(so two agents do not share it), an exhausted grid hands out points again without a warning (the
driver never asks beyond `n_trials`), and NaN grid values are not supported.

Conditional parameters: each takes one more grid value, `ABSENT`, and only the points where it is
`ABSENT` exactly when its conditions fail are kept, so the grid enumerates valid combinations only
(`optimizer=adam` is not repeated once per `momentum` it does not have).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..config.space import Param, conditional_order
from ..errors import SpecError

ABSENT = "<absent>"  # a conditional parameter's grid value in the points where its conditions fail
Valid = Callable[[dict[str, Any]], bool]

GRID_ID = "grid_id"  # trial system attr: the index of the trial's point in `GridPoints.points`
SEARCH_SPACE = "search_space"  # trial system attr: the grid the id indexes


def grid_space(params: dict[str, Param], source: str) -> dict[str, list[Any]]:
    """The values each parameter takes; refuses continuous parameters instead of guessing a resolution."""
    space: dict[str, list[Any]] = {}
    for p in params.values():
        if p.is_fixed:
            continue
        values = p.grid_values()
        if values is None:
            raise SpecError(source, f"params.{p.name}", f"grid search cannot enumerate the continuous {p.expr!r}: "
                            "use choice(...), range(start, stop, step=...) or another search method")
        space[p.name] = [*values, ABSENT] if p.is_conditional else values
    return space


def valid_points(params: dict[str, Param]) -> Valid | None:
    """Whether a grid point is a combination a trial can have (None: every point is)."""
    order = conditional_order(params)
    if not order:
        return None
    fixed = {n: p.value for n, p in params.items() if p.is_fixed and not p.is_conditional}

    def valid(point: dict[str, Any]) -> bool:
        values = {**fixed, **{k: v for k, v in point.items() if not params[k].is_conditional}}
        for p in order:
            on = p.active(values)
            if p.is_fixed:
                if on:
                    values[p.name] = p.value
            elif on != (point[p.name] != ABSENT):
                return False
            elif on:
                values[p.name] = point[p.name]
        return True

    return valid


def grid_size(space: dict[str, list[Any]], valid: Valid | None = None) -> int:
    if valid is None:
        return math.prod(len(v) for v in space.values())
    names = sorted(space)
    return sum(valid(dict(zip(names, pt, strict=True))) for pt in itertools.product(*(space[n] for n in names)))


class GridPoints:
    """The grid's points in their seeded order."""

    def __init__(self, space: dict[str, list[Any]], seed: int | None, valid: Valid | None = None) -> None:
        import numpy as np

        self.space = {name: list(values) for name, values in sorted(space.items())}
        self.names = list(self.space)
        self.points: list[tuple[Any, ...]] = list(itertools.product(*self.space.values()))
        if valid is not None:
            self.points = [pt for pt in self.points if valid(dict(zip(self.names, pt, strict=True)))]
        np.random.RandomState(seed or 0).shuffle(self.points)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.points)

    def point(self, grid_id: int) -> dict[str, Any]:
        return dict(zip(self.names, self.points[grid_id], strict=True))

    def same_grid(self, space: Any) -> bool:
        return isinstance(space, dict) and {k: list(v) for k, v in space.items()} == self.space


def make_sampler(space: dict[str, list[Any]], seed: int | None, storage: Any = None, valid: Valid | None = None) -> Any:
    from optuna.samplers import BaseSampler
    from optuna.trial import TrialState

    class GridSearch(BaseSampler):
        """Each trial takes an unvisited point (running points count as visited while others remain)."""

        def __init__(self) -> None:
            import numpy as np

            self.grid = GridPoints(space, seed, valid)
            self.storage = storage
            self._rng = np.random.RandomState(seed or 0)

        def reseed_rng(self) -> None:
            self._rng.seed()

        def _trial_id(self, study: Any, number: int) -> int:
            study_id = self.storage.get_study_id_from_name(study.study_name)
            return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

        def unvisited(self, study: Any) -> list[int]:
            done: set[int] = set()
            running: set[int] = set()
            for t in study.get_trials(deepcopy=False):
                if GRID_ID in t.system_attrs and self.grid.same_grid(t.system_attrs.get(SEARCH_SPACE)):
                    if t.state.is_finished():
                        done.add(t.system_attrs[GRID_ID])
                    elif t.state == TrialState.RUNNING:
                        running.add(t.system_attrs[GRID_ID])
            ids = set(range(len(self.grid))) - done
            return sorted(ids - running) or sorted(ids) or list(range(len(self.grid)))

        def before_trial(self, study: Any, trial: Any) -> None:
            if GRID_ID in trial.system_attrs or "fixed_params" in trial.system_attrs:
                return  # a retry (enqueued with its params) or a trial that already has its point
            if self.storage is None:
                raise RuntimeError("GridSearch needs the storage it works on")
            ids = self.unvisited(study)
            grid_id = trial.number if 0 <= trial.number < len(self.grid) and trial.number in ids else \
                int(self._rng.choice(ids))
            trial_id = self._trial_id(study, trial.number)
            self.storage.set_trial_system_attr(trial_id, SEARCH_SPACE, self.grid.space)
            self.storage.set_trial_system_attr(trial_id, GRID_ID, grid_id)
            trial.system_attrs[SEARCH_SPACE] = self.grid.space  # the frozen copy `ask` goes on reading
            trial.system_attrs[GRID_ID] = grid_id

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
            if GRID_ID not in trial.system_attrs:
                raise ValueError("every parameter must be given when a grid trial is enqueued")
            return self.grid.point(trial.system_attrs[GRID_ID])[param_name]

        def after_trial(self, study: Any, trial: Any, state: Any, values: Sequence[float] | None) -> None:
            return None  # the driver counts n_trials itself

    return GridSearch()


def point_of(sampler: Any, system_attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The grid point a trial was given (None: not a grid trial, or cut off before it got one)."""
    grid = getattr(sampler, "grid", None)
    if not isinstance(grid, GridPoints) or GRID_ID not in system_attrs:
        return None
    return grid.point(int(system_attrs[GRID_ID]))


def is_grid(sampler: Any) -> bool:
    return isinstance(getattr(sampler, "grid", None), GridPoints)
