"""Conditional parameters: the YAML form, its checks, define-by-run drawing, grids of valid points."""

from __future__ import annotations

import optuna
import pytest

from sweeper.config.space import conditional_order, parse_params
from sweeper.errors import SpecError
from sweeper.search import conditional
from sweeper.search.grid import ABSENT, GridPoints, grid_size, grid_space, valid_points

SPACE = {
    "optimizer": "choice(sgd, adam)",
    "momentum": {"when": "optimizer=sgd", "sweep": "choice(0.5, 0.9)"},
    "nesterov": {"when": ["optimizer=sgd", "momentum=0.9"], "sweep": "choice(true, false)"},
    "beta2": {"when": "optimizer=adam", "sweep": "choice(0.99, 0.999)"},
    "model": "choice(resnet, vit)",
    "model.depth": {"when": "model=resnet", "sweep": "range(18, 51, 16)"},
    "model.patch": {"when": "model=vit", "sweep": 16},  # a constant that only the vit trials have
}


def test_a_parameter_exists_only_when_its_conditions_hold():
    ps = parse_params(SPACE, "s.yaml")
    assert [p.name for p in conditional_order(ps)] == ["momentum", "nesterov", "beta2", "model.depth", "model.patch"]
    assert ps["nesterov"].active({"optimizer": "sgd", "momentum": 0.9})
    assert not ps["nesterov"].active({"optimizer": "sgd", "momentum": 0.5})
    assert not ps["nesterov"].active({"optimizer": "adam"})  # momentum is absent itself
    assert ps["model.patch"].is_fixed and ps["model.patch"].is_conditional


@pytest.mark.parametrize("raw, message", [
    ({"when": "optimizer=rmsprop", "sweep": "interval(0, 1)"}, "optimizer never takes 'rmsprop'"),
    ({"when": "lr=0.1", "sweep": "interval(0, 1)"}, "names 'lr', which is not another parameter"),
    ({"when": "optimizer=sgd"}, "missing `sweep`"),
    ({"when": "optimizer=sgd", "sweep": "interval(0, 1)", "if": 1}, "unknown key 'if'"),
    ({"when": 3, "sweep": "interval(0, 1)"}, "a condition is a string"),
    ({"when": "optimizer", "sweep": "interval(0, 1)"}, "a condition is other=value"),
    ({"when": "optimizer=interval(0, 1)", "sweep": "interval(0, 1)"}, "a condition is other=value"),
])
def test_bad_conditions_are_one_line_naming_the_key(raw, message):
    with pytest.raises(SpecError, match=message) as e:
        parse_params({"optimizer": "choice(sgd, adam)", "x": raw}, "s.yaml")
    assert str(e.value).startswith("s.yaml: params.x")


def test_conditions_that_go_round_in_a_circle_are_refused():
    with pytest.raises(SpecError, match="conditions go round in a circle: a -> b -> a"):
        parse_params({"o": "choice(1, 2)", "a": {"when": "b=1", "sweep": "choice(1, 2)"},
                      "b": {"when": "a=1", "sweep": "choice(1, 2)"}}, "s.yaml")


def test_a_trial_draws_only_its_active_parameters_and_a_retry_draws_them_again():
    ps = parse_params(SPACE, "s.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    dists = {n: p.distribution() for n, p in ps.items() if not p.is_fixed and not p.is_conditional}
    space = conditional.ConditionalSpace(ps)
    seen = []
    for _ in range(40):
        t = study.ask(dists)
        fixed = space.draw(t)
        seen.append({**t.params, **fixed})
        study.tell(t, 0.0)
    for s in seen:
        assert ("momentum" in s) == (s["optimizer"] == "sgd") and ("beta2" in s) == (s["optimizer"] == "adam")
        assert ("nesterov" in s) == (s.get("momentum") == 0.9)
        assert ("model.depth" in s) == (s["model"] == "resnet") and ("model.patch" in s) == (s["model"] == "vit")
        assert s.get("model.patch", 16) == 16
    assert any("nesterov" in s for s in seen) and any("beta2" in s for s in seen)
    # a retry is enqueued with its params: the define-by-run suggests give the same values back
    first = {k: v for k, v in seen[0].items() if k != "model.patch"}
    study.enqueue_trial(first)
    t = study.ask(dists)
    space.draw(t)
    assert t.params == first


def test_the_grid_enumerates_valid_combinations_only():
    ps = parse_params(SPACE, "s.yaml")
    space = grid_space(ps, "s.yaml")
    assert space["momentum"] == [0.5, 0.9, ABSENT] and "model.patch" not in space
    # optimizer: sgd with momentum 0.5 (1) or 0.9 with nesterov true/false (2), adam with beta2 (2): 5;
    # model: resnet with 3 depths, vit: 4; 5 x 4 = 20 (the unfiltered product is 2*3*3*3*2*4 = 432)
    valid = valid_points(ps)
    assert grid_size(space) == 432 and grid_size(space, valid) == 20
    points = [GridPoints(space, 0, valid).point(i) for i in range(20)]
    assert len({tuple(sorted(p.items())) for p in points}) == 20
    for p in points:
        assert (p["momentum"] != ABSENT) == (p["optimizer"] == "sgd")
        assert (p["nesterov"] != ABSENT) == (p["momentum"] == 0.9)
        assert (p["model.depth"] != ABSENT) == (p["model"] == "resnet")
