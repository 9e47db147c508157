"""The sweep's budgets beyond `n_trials`: steps, wall time, a target value (`budget:` in the file).

What was spent is read from the study, never kept only in a driver, so `sweep resume` continues
with what is left and agents share one budget:
- steps: every report of the objective is one step, stored as the trial's intermediate value;
  spent = the intermediate values of all trials;
- time: each driver writes the period it has run the sweep (`sweeper.period.<lease id>`: first and
  last second, refreshed every second) to the study; spent = the union of all periods, so two
  agents running at once spend wall time once, and the time a sweep lay killed is not spent;
- target: a finished trial's objective as good as the target or better (the study's best).

Once a budget is spent, no trial starts; running trials stop at their next report and are recorded
as PRUNED with `sweeper.stopped_by` naming the budget (as for a pruner: the steps they reported
stand), except that the report spending the last step of `budget.steps` lets its own trial go on to
its end if that was its last step (`Budget.stops`). A trial that never reports cannot be stopped
without losing its work: it runs to its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..config.spec import BudgetSpec, Objective
from ..state import attrs
from ..state.budget import fmt_seconds, fmt_target, periods, steps_spent, time_spent

#: how often the driver writes its period and re-reads what other agents spent
REFRESH_S = 1.0


class Budget:
    """What a driver checks before starting a trial and at each report."""

    def __init__(self, spec: BudgetSpec, objective: Objective, study: Any, driver_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.spec, self.objective, self.study, self.clock = spec, objective, study, clock
        self.key = attrs.PERIOD_PREFIX + driver_id
        self.steps = 0  # spent by every driver, as last read, plus this driver's since
        self.other_periods: list[tuple[float, float]] = []  # earlier launches' and other agents', as last read
        self.started = 0.0
        self._refreshed = -float("inf")
        self.best: float | None = None
        self.reason: str | None = None  # the first budget found spent, e.g. "budget.steps (60/60 steps)"

    def start(self, best: float | None) -> None:
        self.started = self.clock()
        self.best = best
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Every REFRESH_S: write this driver's period, re-read what all drivers spent; whether it did."""
        now = self.clock()
        if not force and now - self._refreshed < REFRESH_S:
            return False
        self._refreshed = now
        if self.spec.time is not None:
            self.study.set_user_attr(self.key, [self.started, now])
            self.other_periods = periods({k: v for k, v in self.study.user_attrs.items() if k != self.key})
        if self.spec.steps is not None:
            self.steps = steps_spent(self.study.get_trials(deepcopy=False))
        self.check()
        return True

    def shown(self) -> dict[str, str]:
        """Spent/total of each budget, as `sweep status` shows them."""
        s, out = self.spec, {}
        if s.steps is not None:
            out["steps"] = f"{self.steps}/{s.steps}"
        if s.time is not None:
            out["time"] = f"{fmt_seconds(self.time_used())}/{fmt_seconds(s.time)}"
        if s.target is not None:
            out["target"] = fmt_target(s.target, self.best)
        return out

    def close(self) -> None:
        """This driver's period ends now: the time it ran counts to the last moment."""
        if self.spec.time is not None:
            self.study.set_user_attr(self.key, [self.started, self.clock()])

    def step(self) -> None:
        """One report of the objective by a trial of this driver."""
        self.steps += 1
        self.check()

    def recount(self) -> None:
        """The steps every driver spent, read from the study now (agents share the sweep)."""
        self.steps = steps_spent(self.study.get_trials(deepcopy=False))
        self.check()

    def finished(self, value: float) -> None:
        if self.best is None or self.objective.better(value, self.best):
            self.best = value
        self.check()

    def time_used(self) -> float:
        """The union of every period, this driver's running up to now."""
        return time_spent([*self.other_periods, (self.started, self.clock())])

    def check(self) -> str | None:
        if self.reason is not None:
            return self.reason
        s = self.spec
        if s.steps is not None and self.steps >= s.steps:
            self.reason = f"budget.steps reached ({self.steps}/{s.steps} steps)"
        elif s.target is not None and self.best is not None and not self.objective.better(s.target, self.best):
            self.reason = f"budget.target reached ({self.objective.metric}={self.best:.6g}, target {s.target:g})"
        elif s.time is not None and self.time_used() >= s.time:
            self.reason = f"budget.time reached ({fmt_seconds(self.time_used())} of {fmt_seconds(s.time)})"
        return self.reason

    def spent(self) -> str | None:
        """Why the sweep must start no more trials, or None."""
        if self.reason is None and self.spec.time is not None:
            self.check()
        return self.reason

    def stops(self) -> str | None:
        """Why a running trial must stop at the report it just made, or None.

        The report that spends the last step of `budget.steps` does not stop its trial: that step
        is paid for, and if it was the trial's last, the trial completes with it (stopping it there
        threw away a finished trial: an unpruned sweep paid for 20 full trials and completed 19).
        Its next report, a step beyond the budget, stops it, as it stops every other running trial.
        """
        reason = self.spent()
        if reason is not None and reason.startswith("budget.steps") and self.steps <= (self.spec.steps or 0):
            return None
        return reason
