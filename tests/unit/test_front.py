"""The driver's running Pareto front (its size is what the live panel shows)."""

from sweeper.config.spec import Objective
from sweeper.driver.front import FrontTracker


def test_the_front_keeps_the_non_dominated_and_drops_what_a_newcomer_dominates():
    f = FrontTracker([Objective("a"), Objective("b", "maximize")])
    assert f.add([1.0, 1.0]) == 1
    assert f.add([2.0, 2.0]) == 2  # worse a, better b: both on the front
    assert f.add([3.0, 1.5]) == 2  # dominated by (2, 2): no change
    assert f.add([2.0, 2.0]) == 3  # equal values: neither dominates, both stay (as Optuna's best_trials)
    assert f.add([0.5, 3.0]) == 1  # dominates every one of them
    assert f.size == 1
