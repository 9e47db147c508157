"""The sample-efficiency benchmark at a tiny size, through the real `sweep launch`."""

from __future__ import annotations

import math

import pytest
from helpers import import_benchmark

problems = import_benchmark("problems")
se = import_benchmark("sample_efficiency")


def test_known_optima_are_reached_at_their_argmin():
    assert math.isclose(problems.branin_value(math.pi, 2.275), problems.BRANIN_MIN, rel_tol=1e-12)
    x = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    assert abs(problems.hartmann6_value(x) - problems.HARTMANN6_MIN) < 1e-5
    t = problems.table("nb201", "cifar10")
    best = min(t.losses, key=t.losses.__getitem__)
    params = {f"Op{i}": t.space[f"Op{i}"][int(d)] for i, d in enumerate(best)}
    assert t.loss(params) == t.optimum
    assert se.problem("nb201:cifar10").params["Op0"].startswith("choice(none, skip_connect")


@pytest.mark.slow
def test_tiny_run_through_sweep_launch():
    # two sweeps: each method once, each kind of problem once (continuous, tabular)
    rows = se.run(["random"], ["branin"], seeds=[0], trials=5, checkpoints=(2, 5))
    rows += se.run(["tpe"], ["nb201:cifar10"], seeds=[0], trials=5, checkpoints=(2, 5))
    assert {(r["method"], r["problem"]) for r in rows} == {("random", "branin"), ("tpe", "nb201:cifar10")}
    for r in rows:
        assert set(r["regret"]) == {2, 5}
        assert r["regret"][5] <= r["regret"][2]
        assert r["regret"][5] >= 0
    table = se.report(rows + [{"method": "gp", "problem": "branin", "seed": None, "regret": None, "wall": 0.0}])
    for line in ("| branin | random |", "| nb201:cifar10 | tpe |", "| branin | gp | n/a (needs torch) |"):
        assert line in table
    assert "| branin | random | " in table and "1.00x" in table
