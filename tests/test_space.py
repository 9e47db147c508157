"""The params grammar: Hydra's sweep expressions and W&B mappings → Optuna distributions."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeper.config.space import parse_param, parse_params
from sweeper.errors import SpecError
from sweeper.search.grid import grid_size, grid_space


def dist(raw):
    return parse_param("p", raw, "s.yaml").distribution()


def test_hydra_expressions_map_to_optuna_distributions():
    assert dist("interval(0, 1)") == FloatDistribution(0.0, 1.0)
    assert dist("tag(log, interval(1e-4, 1e-1))") == FloatDistribution(1e-4, 1e-1, log=True)
    assert dist("int(interval(1, 10))") == IntDistribution(1, 10)
    assert dist("tag(log, int(interval(1, 1024)))") == IntDistribution(1, 1024, log=True)
    assert dist("choice(adam, sgd, 3)") == CategoricalDistribution(["adam", "sgd", 3])
    # Hydra's range excludes stop, like Python's
    assert dist("range(1, 10, 2)") == IntDistribution(1, 9, step=2)
    assert dist("range(0.0, 1.0, step=0.25)") == FloatDistribution(0.0, 0.75, step=0.25)


def test_wandb_forms():
    assert dist({"values": [1, 2, 3]}) == CategoricalDistribution([1, 2, 3])
    assert dist({"min": 1, "max": 5}) == IntDistribution(1, 5)
    assert dist({"min": 0.1, "max": 0.5}) == FloatDistribution(0.1, 0.5)
    assert dist({"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}) == FloatDistribution(1e-5, 1e-1, log=True)
    assert dist({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}) == FloatDistribution(0.0, 1.0, step=0.25)
    assert parse_param("p", {"value": 7}, "s.yaml").value == 7


def test_fixed_values_are_not_searched():
    params = parse_params({"lr": "interval(0, 1)", "epochs": 10, "name": "resnet", "layers": [1, 2]}, "s.yaml")
    assert [n for n, p in params.items() if p.is_fixed] == ["epochs", "name", "layers"]


def test_grid_enumerates_discrete_params_only():
    params = parse_params({"a": "choice(1, 2, 3)", "b": "range(0, 4)", "c": "int(interval(1, 2))", "d": 5}, "s.yaml")
    space = grid_space(params, "s.yaml")
    assert space == {"a": [1, 2, 3], "b": [0, 1, 2, 3], "c": [1, 2]}
    assert grid_size(space) == 24
    with pytest.raises(SpecError, match=r"params.x: grid search cannot enumerate"):
        grid_space(parse_params({"x": "interval(0, 1)"}, "s.yaml"), "s.yaml")


@pytest.mark.parametrize("raw, message", [
    ("interval(1)", "params.p: cannot parse"),
    ("interval(5, 1)", "params.p: interval low 5.0 must be below high 1.0"),
    ("tag(log, interval(-1, 1))", "params.p: tag\\(log, ...\\) needs low > 0"),
    ("tag(log, interval(0, 1))", "needs low > 0"),
    ("range(5, 1)", "is empty"),
    ("tag(log, choice(1, 2))", "not choice"),
    ({"distribution": "log_uniform", "min": 1, "max": 2}, "unknown distribution 'log_uniform'"),
    ({"distribution": "log_uniform_values", "min": 0, "max": 2}, "needs min > 0"),
    ({"min": 3, "max": 1}, "min 3 must be below max 1"),
])
def test_bad_expressions_name_the_param(raw, message):
    with pytest.raises(SpecError, match=message) as e:
        parse_param("p", raw, "s.yaml")
    assert str(e.value).startswith("s.yaml: params.p")
    assert "\n" not in str(e.value)


def test_no_params_or_all_fixed_is_an_error():
    with pytest.raises(SpecError, match="params: missing"):
        parse_params({}, "s.yaml")
    with pytest.raises(SpecError, match="every parameter is fixed"):
        parse_params({"a": 1}, "s.yaml")
