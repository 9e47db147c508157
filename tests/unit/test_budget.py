"""Budgets against a fake study and clock: what was spent is read from the study, so a resume and
agents see one budget; wall time is the union of the drivers' periods."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sweeper.config.schema import parse_duration
from sweeper.config.spec import BudgetSpec, Objective
from sweeper.driver.budget import Budget
from sweeper.state.budget import summary, time_spent


class Study:
    def __init__(self) -> None:
        self.user_attrs: dict = {}
        self.trials: list = []

    def set_user_attr(self, key: str, value: object) -> None:
        self.user_attrs[key] = value

    def get_trials(self, deepcopy: bool = False) -> list:
        return self.trials


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def trial(steps: int) -> SimpleNamespace:
    return SimpleNamespace(intermediate_values={i: 0.0 for i in range(steps)})


def test_time_spent_is_the_union_of_periods():
    assert time_spent([]) == 0
    assert time_spent([(0, 10), (5, 12), (20, 25)]) == 17  # overlapping agents count once, a gap not at all
    assert time_spent([(20, 25), (0, 30)]) == 30


@pytest.mark.parametrize("text, seconds", [("90m", 5400), ("8h", 28800), ("1h30m", 5400), ("45s", 45),
                                           ("2d", 172800), (6, 6), (0.5, 0.5), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["90 minutes", "", "h", "-5m", 0, -1, True, "1h-5m", float("inf"), None, [1]])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_steps_spent_by_earlier_launches_and_agents_count():
    study, clock = Study(), Clock()
    study.trials = [trial(10), trial(25)]  # what a killed launch and another agent reported
    b = Budget(BudgetSpec(steps=40), Objective("loss"), study, "me", clock)
    b.start(None)
    assert b.steps == 35 and b.spent() is None
    for _ in range(4):
        b.step()
    assert b.spent() is None
    b.step()
    assert b.spent() == "budget.steps reached (40/40 steps)"
    # the report that spent the last step lets its trial finish; one beyond the budget stops it
    assert b.stops() is None
    b.step()
    assert b.stops() == "budget.steps reached (40/40 steps)"


def test_time_counts_other_drivers_periods_once_and_this_ones_to_now():
    study, clock = Study(), Clock(1000.0)
    study.user_attrs["sweeper.period.old"] = [900.0, 950.0]  # an earlier launch: 50 s
    study.user_attrs["sweeper.period.agent"] = [990.0, 1000.0]  # an agent running beside us
    b = Budget(BudgetSpec(time=100.0), Objective("loss"), study, "me", clock)
    b.start(None)
    assert study.user_attrs["sweeper.period.me"] == [1000.0, 1000.0]
    clock.t = 1030.0
    assert b.time_used() == 50 + 40 and b.spent() is None  # [990, 1030] with the agent's
    clock.t = 1040.0
    assert b.spent() == "budget.time reached (1m40s of 1m40s)"
    b.close()
    assert study.user_attrs["sweeper.period.me"] == [1000.0, 1040.0]


def test_a_target_is_reached_by_a_finished_value_in_the_goals_direction():
    for goal, values, hits in (("minimize", [0.3, 0.06, 0.05], 2), ("maximize", [0.5, 0.89, 0.9], 2)):
        target = 0.05 if goal == "minimize" else 0.9
        b = Budget(BudgetSpec(target=target), Objective("acc", goal), Study(), "me", Clock())
        b.start(None)
        for i, v in enumerate(values):
            b.finished(v)
            assert (b.spent() is not None) == (i >= hits), (goal, i)
    b = Budget(BudgetSpec(target=0.05), Objective("loss"), Study(), "me", Clock())
    b.start(0.01)  # a resume of a sweep whose best already reached it starts nothing
    assert b.spent() is not None and b.spent().startswith("budget.target reached (loss=0.01")


def test_summary_shows_spent_over_total():
    attrs = {"sweeper.period.a": [0.0, 130.0]}
    got = summary({"steps": 60, "time": "8h", "target": 0.05}, [trial(41)], attrs, None)
    assert got == {"steps": "41/60", "time": "2m10s/8h00m", "target": "0.05 (best none yet)"}
    assert summary(None, [], {}, None) == {}
