"""The W&B dialect: every top-level key, parameter form and distribution of W&B's engine, and the
macros of its agent, translated as W&B means them (github.com/wandb/sweeps, wandb's agent)."""

from __future__ import annotations

import json
import os
import statistics

import pytest

from sweeper.config import load
from sweeper.config.dialects import detect
from sweeper.config.wandb_sweep import hyperband_bands, translate
from sweeper.errors import SpecError
from sweeper.integrations.wandb_launch import agent_args, expand, nest, ppf


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print('hi')\n")
    return tmp_path


def wb(**extra):
    return {"program": "train.py", "method": "random", "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}}, **extra}


def test_detected_by_shape():
    assert detect({"parameters": {}, "method": "grid"}).name == "wandb"
    assert detect({"parameters": {}, "program": "t.py"}).name == "wandb"
    assert detect({"params": {}, "name": "x"}).name == "sweeper"
    assert detect({"parameters": {}}).name == "sweeper"


def test_top_level_keys(project):
    cfg = translate(wb(method="bayes", run_cap=7, name="my sweep", project="proj", entity="team",
                       description="d", metric={"name": "acc", "goal": "maximize", "target": 0.9}), "s.yaml")
    assert cfg["search"]["method"] == "tpe"
    assert cfg["n_trials"] == 7
    assert cfg["name"] == "my-sweep"
    assert cfg["tracking"]["experiment"] == "proj"
    assert cfg["objective"] == {"metric": "acc", "goal": "maximize"}
    assert cfg["budget"]["target"] == 0.9
    assert any("entity" in n for n in cfg["_notes"])


def test_without_run_cap_a_default_budget_and_a_note(project):
    cfg = translate(wb(), "s.yaml")
    assert cfg["n_trials"] == 20 and any("run_cap" in n for n in cfg["_notes"])
    assert "n_trials" not in translate(wb(method="grid", parameters={"x": {"values": [1, 2]}}), "s.yaml")


def test_loaded_spec_every_form(project):
    spec = load(wb(parameters={
        "a": {"value": 3},
        "b": {"values": [1, 2, 3]},
        "c": {"min": 1, "max": 5},  # two ints: int_uniform
        "d": {"min": 1, "max": 5.0},  # W&B: uniform when either is a float
        "e": {"min": "1e-6", "max": "1e-2", "distribution": "log_uniform_values"},
        "f": {"distribution": "q_uniform", "min": 16, "max": 128, "q": 16},
        "g": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
        "h": {"distribution": "log_uniform", "min": -2, "max": 0},
        "i": {"distribution": "normal", "mu": 1, "sigma": 2},
        "j": {"values": ["x", "y"], "probabilities": [0.2, 0.8]},
        "k": {"parameters": {"l": {"parameters": {"m": {"values": [True, False]}}}}},
    }), workdir=str(project))
    p = spec.params
    assert p["a"].is_fixed and p["a"].value == 3
    assert p["b"].choices == (1, 2, 3)
    assert (p["c"].kind, p["c"].low, p["c"].high) == ("int", 1, 5)
    assert p["d"].kind == "float"
    assert (p["e"].kind, p["e"].log, p["e"].low, p["e"].high) == ("float", True, 1e-6, 1e-2)
    assert (p["f"].kind, p["f"].low, p["f"].high, p["f"].step) == ("int", 16, 128, 16)
    assert p["f"].grid_values() == list(range(16, 129, 16))
    assert p["g"].kind == "float" and p["g"].step == 0.25
    assert p["h"].log and p["h"].low == pytest.approx(0.1353352832) and p["h"].high == pytest.approx(1.0)
    assert (p["i"].kind, p["i"].low, p["i"].high) == ("float", 0.0, 1.0)  # the quantile the sampler models
    assert (p["j"].kind, p["j"].low, p["j"].high) == ("float", 0.0, 1.0)
    assert p["k.l.m"].choices == (True, False)


@pytest.mark.parametrize("form,key,words", [
    ({"distribution": "gaussian"}, "parameters.x.distribution", "unknown distribution 'gaussian'"),
    ({"distribution": "uniform", "min": 0}, "parameters.x.max", "missing"),
    ({"min": 5, "max": 1}, "parameters.x", "min 5 must be below max 1"),
    ({"values": [1, 2], "probabilities": [0.5]}, "parameters.x.probabilities", "one per value"),
    ({"values": [1, 2], "probabilities": [0.5, 0.6]}, "parameters.x.probabilities", "sum to 1"),
    ({"distributon": "normal"}, "parameters.x.distributon", "did you mean 'distribution'"),
    ({"distribution": "normal", "sigma": -1}, "parameters.x.sigma", "> 0"),
    ({"distribution": "uniform", "min": 0, "max": 1, "mu": 0}, "parameters.x.mu", "not an argument of uniform"),
    ({"distribution": "log_uniform_values", "min": 0, "max": 1}, "parameters.x.min", "min > 0"),
    ({"foo": {"bar": 1}}, "parameters.x.foo", "unknown key"),
    (3, "parameters.x", "must be a mapping"),
])
def test_bad_parameters_name_the_key(project, form, key, words):
    with pytest.raises(SpecError) as e:
        translate(wb(parameters={"x": form}), "s.yaml")
    assert e.value.key == key and words in str(e.value), str(e.value)


@pytest.mark.parametrize("extra,key,words", [
    ({"methd": "grid"}, "methd", "did you mean 'method'"),
    ({"controller": {"type": "local"}}, "controller", "W&B's servers"),
    ({"method": "hyper"}, "method", "not a W&B method"),
    ({"method": None}, "method", "not a W&B method"),
    ({"metric": {"name": "loss", "goal": "minimise"}}, "metric.goal", "'minimise' is not allowed"),
    ({"program": "nope.py"}, "program", "no such file"),
    ({"command": ["${env}", "${interpreter}", "${program}", "${argz}"]}, "command[3]", "unknown macro ${argz}"),
    ({"command": ["python", "train.py", "--x=${args}"]}, "command[2]", "list item of its own"),
    ({"early_terminate": {"type": "hyperband"}}, "early_terminate", "min_iter, or max_iter and s"),
    ({"early_terminate": {"type": "median", "min_iter": 1}}, "early_terminate.type", "hyperband"),
])
def test_bad_top_level_names_the_key(project, extra, key, words):
    with pytest.raises(SpecError) as e:
        translate(wb(**extra), "s.yaml")
    assert e.value.key == key and words in str(e.value), str(e.value)


def test_method_is_required_as_in_wandbs_schema(project):
    raw = wb()
    del raw["method"]
    with pytest.raises(SpecError, match="method: missing"):
        translate(raw, "s.yaml")


def test_native_dialect_refuses_a_mapping_that_is_no_param_form(tmp_path):
    base = {"name": "s", "objective": {"metric": "loss"}, "trial": {"function": "m:f"}, "n_trials": 3,
            "params": {"x": "interval(0.0, 1.0)", "opt": {"distribution": "normal", "mu": 0}}}
    with pytest.raises(SpecError) as e:
        load(base, workdir=str(tmp_path))
    assert e.value.key == "params.opt" and "'mu'" in str(e.value)


def test_hyperband_bands_as_wandb_computes_them():
    assert hyperband_bands({"min_iter": 3}, 3, "s")[:4] == [3, 9, 27, 81]
    assert hyperband_bands({"max_iter": 27, "s": 2}, 3, "s") == [3, 9]
    assert hyperband_bands({"max_iter": 5, "s": 2}, 2, "s") == [1, 2]  # sweeps' own doctest


def test_hyperband_is_successive_halving_from_the_first_band(project):
    cfg = translate(wb(early_terminate={"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}), "s.yaml")
    assert cfg["early_stop"] == {"type": "asha", "min_iter": 3, "eta": 3}


def test_ppf_is_wandbs():
    assert ppf({"distribution": "normal", "mu": 1.0, "sigma": 2.0}, 0.5) == pytest.approx(1.0)
    assert ppf({"distribution": "normal", "mu": 0.0, "sigma": 1.0}, 0.975) == pytest.approx(1.959964, rel=1e-5)
    assert ppf({"distribution": "log_normal", "mu": 0.0, "sigma": 1.0}, 0.5) == pytest.approx(1.0)
    v = ppf({"distribution": "q_normal", "mu": 10.0, "sigma": 5.0, "q": 2}, 0.7)
    assert isinstance(v, int) and v % 2 == 0
    assert ppf({"distribution": "beta", "a": 2.0, "b": 2.0}, 0.5) == pytest.approx(0.5)
    assert ppf({"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1.0}, 0.0) == pytest.approx(0.01)
    assert ppf({"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1.0}, 1.0) == pytest.approx(1.0)
    w = {"distribution": "categorical_w_probabilities", "values": ["a", "b"], "probabilities": [0.25, 0.75]}
    assert [ppf(w, u) for u in (0.1, 0.24, 0.26, 0.99)] == ["a", "a", "b", "b"]
    draws = [ppf({"distribution": "normal", "mu": 5.0, "sigma": 1.0}, (i + 0.5) / 2000) for i in range(2000)]
    assert statistics.mean(draws) == pytest.approx(5.0, abs=0.01)


def test_macros_as_wandbs_agent_prints_them(tmp_path, monkeypatch):
    values = nest({"lr": 0.001, "bn": True, "no": False, "name": "a b", "m.depth": 4})
    a = agent_args(values)
    assert a["args"] == ["--lr=0.001", "--bn=True", "--no=False", "--name=a b", "--m={'depth': 4}"]
    assert a["args_no_hyphens"][0] == "lr=0.001"
    assert a["args_no_boolean_flags"] == ["--lr=0.001", "--bn", "--name=a b", "--m={'depth': 4}"]
    assert json.loads(a["args_json"][0]) == {"lr": 0.001, "bn": True, "no": False, "name": "a b", "m": {"depth": 4}}
    monkeypatch.setenv("MY_FLAG", "on")
    argv = expand(["${env}", "${interpreter}", "${program}", "--f=${envvar:MY_FLAG}", "${envvar:UNSET_X}",
                   "${args_json_file}"], "train.py", {"lr": 0.1}, str(tmp_path / "a.json"))
    assert argv[0] == "/usr/bin/env" and os.path.isabs(argv[1]) and argv[2:] == [
        "train.py", "--f=on", "UNSET_X", str(tmp_path / "a.json")]


def test_bridge_rows_commit_as_wandb_commits_them(monkeypatch):
    import sweeper
    from sweeper.integrations import wandb_bridge as b

    seen = []
    monkeypatch.setattr(sweeper, "report", lambda step, **m: seen.append((step, m)))
    monkeypatch.setattr(b, "_state", {"rows": 0, "pending": {}, "summary": {}, "installed": True})
    b.relay({"loss": 1.0, "img": object(), "flag": True, "nested": {"acc": 2}}, None, None)
    b.relay({"loss": 0.5}, None, False)  # not committed yet: joins the next row
    b.relay({"acc": 0.9}, 7, None)
    assert seen == [(1, {"loss": 1.0, "nested/acc": 2.0}), (2, {"loss": 0.5, "acc": 0.9})]
    assert b._state["summary"] == {"loss": 0.5, "nested/acc": 2.0, "acc": 0.9}
