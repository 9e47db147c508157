"""Loading a sweep file: Hydra composition, overrides without `+`, secrets, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write

from sweeper.config import load as _load
from sweeper.errors import SpecError

BASE = """
name: s
objective: {metric: loss}
params:
  x: interval(0.0, 1.0)
trial: {function: objectives:trivial}
n_trials: 5
"""


def load(tmp_path: Path, text: str, overrides: list[str] | None = None):
    return _load(write(tmp_path / "s.yaml", text), overrides or [], workdir=str(tmp_path))


def test_defaults_come_from_conf_groups_and_file_keys_win(tmp_path):
    s = load(tmp_path, BASE + "search: {n_startup_trials: 3}\n")
    assert s.search.method == "tpe" and s.search.options["n_startup_trials"] == 3
    assert s.early_stop.type == "none" and s.backend.type == "local"
    assert s.storage == f"sqlite:///{tmp_path}/.sweeps/sweeps.db"
    assert s.objectives[0].goal == "minimize" and s.workers is None  # as many as the resources allow


def test_overrides_need_no_plus_and_params_take_sweep_expressions(tmp_path):
    s = load(tmp_path, BASE, ["n_trials=40", "workers=2", "search=random", "seed=3",
                              "params.lr=tag(log, interval(1e-4, 1e-1))", "params.x=choice(0.1, 0.2)",
                              "trial.timeout=30", "max_failures=1"])
    assert (s.n_trials, s.workers, s.search.method, s.seed, s.trial.timeout) == (40, 2, "random", 3, 30.0)
    assert s.params["lr"].log and s.params["lr"].low == 1e-4
    assert s.params["x"].choices == (0.1, 0.2)


def test_defaults_list_in_the_file_and_group_override(tmp_path):
    text = "defaults:\n  - search: random\n  - early_stop: median\n  - _self_\n" + BASE
    s = load(tmp_path, text, ["search=cmaes", "early_stop.startup_trials=2"])
    assert s.search.method == "cmaes" and s.early_stop.type == "median"
    assert s.early_stop.options["startup_trials"] == 2


def test_hydras_plus_prefix_names_the_key_and_any_importable_module_is_a_function(tmp_path):
    s = load(tmp_path, BASE.replace("  x: interval(0.0, 1.0)", "  x: interval(0.0, 1.0)\n  +w: choice(1, 2)\n"
                                    "  ++model.depth: range(1, 4)").replace("objectives:trivial", "multi-objective:binh_and_korn"))
    assert list(s.params) == ["x", "w", "model.depth"]
    assert s.trial.function == "multi-objective:binh_and_korn"  # a file multi-objective.py imports with importlib


def test_grid_infers_n_trials_from_the_grid(tmp_path):
    s = load(tmp_path, BASE.replace("interval(0.0, 1.0)", "choice(1, 2, 3)").replace("n_trials: 5\n", ""),
             ["search=grid", "params.y=range(0, 4)"])
    assert s.n_trials == 12


def test_args_is_not_an_interpolation_and_env_secrets_stay_unresolved(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    text = BASE.replace("trial: {function: objectives:trivial}", 'trial: {command: "python train.py ${args} --seed=${seed}"}')
    text += "seed: 4\nstorage: postgresql+psycopg://bob:${oc.env:DB_PASSWORD}@db/sweeps\n"
    text += "tracking: {uri: 'http://alice:s3cret@mlflow.local:5000'}\n"
    s = load(tmp_path, text)
    assert s.trial.command == "python train.py ${args} --seed=4"
    assert s.storage == "postgresql+psycopg://bob:hunter2@db/sweeps"  # resolved for use...
    assert "hunter2" not in s.resolved_yaml and "${oc.env:DB_PASSWORD}" not in s.resolved_yaml.replace("***", "")
    assert "s3cret" not in s.resolved_yaml and "alice:***@mlflow.local" in s.resolved_yaml
    assert "${args}" in s.resolved_yaml


@pytest.mark.parametrize("text, overrides, message", [
    (BASE + "n_trails: 5\n", [], "s.yaml: n_trails: unknown key (did you mean 'n_trials'?"),
    (BASE, ["n_trails=5"], "command line: n_trails: unknown key (did you mean 'n_trials'?"),
    (BASE, ["search=bogus"], "s.yaml: search: unknown method 'bogus' (allowed: cmaes, gp, grid, nsgaii, nsgaiii, qmc, random, tpe)"),
    (BASE, ["early_stop=bogus"], "s.yaml: early_stop: unknown type 'bogus'"),
    (BASE.replace("objective: {metric: loss}", "objective: {metric: loss, goal: sideways}"), [],
     "objective.goal: 'sideways' is not allowed (allowed: minimize, maximize)"),
    (BASE.replace("objective: {metric: loss}", "objective: {goal: minimize}"), [], "objective.metric: missing"),
    (BASE, ["search=grid"], "params.x: grid search cannot enumerate"),
    (BASE, ["early_stop=hyperband", "early_stop.eta=1"], "early_stop.eta: must be a finite number > 1"),
    (BASE, ["early_stop=hyperband", "early_stop.min_iter=9", "early_stop.max_iter=3"], "min_iter 9 must not exceed max_iter 3"),
    (BASE.replace("{function: objectives:trivial}", "{function: nocolon}"), [],
     "trial.function: 'nocolon' is not of the form package.module:callable"),
    (BASE.replace("trial: {function: objectives:trivial}", "trial: {}"), [], "give exactly one of trial.function"),
    (BASE, ["workers=0"], "workers: must be an integer from 1 to 10000"),
    (BASE, ["search.nonsense=1"], "search.nonsense: unknown option for method 'tpe'"),
    (BASE.replace("name: s", "name: 'a b'"), [], "name: 'a b': use letters"),
    (BASE + "objective: {metric: loss, gaol: max}\n", [], "objective.gaol: unknown key (did you mean 'goal'?"),
    ("name: s\nparams: {x: [1, 2\n", [], "s.yaml: YAML syntax error at line 3"),
    (BASE.replace("n_trials: 5", ""), [], "n_trials: missing"),
    (BASE, ["backend=ray", "backend.adress=auto"],
     "backend.adress: unknown key for backend 'ray' (allowed: type, address, storage)"),
    (BASE, ["backend.storage=/nfs/sweeps"], "backend.storage: unknown key for backend 'local' (allowed: type)"),
    (BASE.replace("  x: interval(0.0, 1.0)", "  x: interval(0.0, 1.0)\n  ~z: choice(1, 2)"), [],
     "params.~z: Hydra's ~ deletes a key from the config"),
    (BASE.replace("  x: interval(0.0, 1.0)", "  x: interval(0.0, 1.0)\n  +x: choice(1, 2)"), [],
     "params.+x: 'x' is given twice"),
    (BASE.replace("  x: interval(0.0, 1.0)", "  'x y': interval(0.0, 1.0)"), [], "params.x y: a parameter is a config key"),
])
def test_bad_input_is_one_line_naming_file_and_key(tmp_path, text, overrides, message):
    with pytest.raises(SpecError) as e:
        load(tmp_path, text, overrides)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / ".sweeps").exists()


def _torch_installed(monkeypatch: pytest.MonkeyPatch, installed: bool) -> list[str]:
    """Make sweeper.search see torch as installed or not, whatever this venv holds; returns the
    names it was asked about, so a test can tell that the check was made."""
    import importlib.machinery
    import importlib.util

    import sweeper.search

    real = importlib.util.find_spec
    asked: list[str] = []

    def find_spec(name: str, package: str | None = None):
        if name == "torch":
            asked.append(name)
            return importlib.machinery.ModuleSpec("torch", None) if installed else None
        return real(name, package)

    monkeypatch.setattr(sweeper.search.importlib.util, "find_spec", find_spec)
    return asked


def test_gp_without_torch_fails_at_load(tmp_path, monkeypatch):
    asked = _torch_installed(monkeypatch, False)
    with pytest.raises(SpecError) as e:
        load(tmp_path, BASE, ["search=gp"])
    assert "s.yaml: search: method 'gp' needs PyTorch: pip install torch (or use search=tpe)" in str(e.value)
    assert asked and not (tmp_path / ".sweeps").exists()  # the refusal came from the check of torch


def test_gp_with_torch_loads_and_makes_its_sampler_without_importing_torch(tmp_path, monkeypatch):
    """GPSampler imports torch only when it samples, so a sweep with gp loads (and its sampler is
    made) on torch's mere presence; here torch is "present" whether or not it is installed."""
    import sys

    from sweeper import search

    asked = _torch_installed(monkeypatch, True)
    s = load(tmp_path, BASE, ["search=gp", "search.n_startup_trials=4"])
    assert s.search.method == "gp" and s.search.options["n_startup_trials"] == 4 and asked
    imported_before = "torch" in sys.modules  # an installed torch that an earlier test imported
    sampler = search.make_sampler(s)
    assert type(sampler).__name__ == "GPSampler"
    assert imported_before or "torch" not in sys.modules


@pytest.mark.parametrize("objective, constraints, message", [
    ("[]", None, "objective: an empty list"),
    ("[{metric: a}, {metric: a}]", None, "objective[1].metric: 'a' is listed twice"),
    ("[{metric: a}, {metric: b, goal: up}]", None, "objective.goal: 'up' is not allowed"),
    ("[{metric: a}, {metrc: b}]", None, "objective[1].metrc: unknown key (did you mean 'metric'?"),
    ("[{metric: a}, 5]", None, "objective[1]: must be a mapping {metric, goal}, got 5"),
    ("{metric: a}", "'mem <= 3'", "constraints: must be a list like"),
    ("{metric: a}", "['mem =< 3']", "constraints[0]: 'mem =< 3' is not `metric <= number`"),
    ("{metric: a}", "['mem <= lots']", "constraints[0]: 'mem <= lots' is not"),
    ("{metric: a}", "['mem <= .inf']", "constraints[0]"),
])
def test_several_objectives_and_constraints_refuse_bad_input_in_one_line(tmp_path, objective, constraints, message):
    text = BASE.replace("objective: {metric: loss}", f"objective: {objective}")
    if constraints is not None:
        text += f"constraints: {constraints}\n"
    with pytest.raises(SpecError) as e:
        load(tmp_path, text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_several_objectives_and_constraints_load(tmp_path):
    s = load(tmp_path, BASE.replace("objective: {metric: loss}", "objective: [{metric: f1}, {metric: f2, goal: maximize}]")
             + "constraints: ['mem_mb <= 2000', 'acc > 0.5']\n")
    assert s.metrics == ("f1", "f2") and s.directions == ["minimize", "maximize"]
    assert [str(c) for c in s.constraints] == ["mem_mb <= 2000", "acc > 0.5"]
    assert s.constraints[0].violation(1500) == -500 and s.constraints[1].violation(0.25) == 0.25


def test_seed_trials_load_and_refuse_what_the_space_cannot_take(tmp_path):
    text = BASE.replace("  x: interval(0.0, 1.0)", "  x: interval(0.0, 1.0)\n  n: range(1, 9, 2)\n  act: choice(relu, tanh)\n  k: 3")
    s = load(tmp_path, text + "seed_trials: [{x: 0.5, act: tanh}, {n: 7}]\n")
    assert s.seed_trials == ({"x": 0.5, "act": "tanh"}, {"n": 7})
    for seeds, message in [("{x: 0.5}", "seed_trials: must be a list of mappings"),
                           ("[{x: 1.5}]", "seed_trials[0].x: 1.5 is outside x's space (float [0, 1])"),
                           ("[{n: 4}]", "seed_trials[0].n: 4 is outside n's space"),  # off range(1, 9, 2)
                           ("[{act: gelu}]", "seed_trials[0].act: 'gelu' is outside act's space"),
                           ("[{k: 3}]", "seed_trials[0].k: not a searched parameter (searched: x, n, act)"),
                           ("[{}]", "seed_trials[0]: must be a mapping of params to values")]:
        with pytest.raises(SpecError) as e:
            load(tmp_path, text + f"seed_trials: {seeds}\n")
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(SpecError, match="seed_trials: grid search runs every point"):
        load(tmp_path, text.replace("x: interval(0.0, 1.0)", "x: choice(0.0, 1.0)") + "search: {method: grid}\n"
             "seed_trials: [{n: 3}]\n")
