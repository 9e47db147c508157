"""The Hydra plugin's door: a hydra-optuna-sweeper node → a native sweep, read as that plugin reads it."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeper.config import load
from sweeper.config.hydra_plugin import translate
from sweeper.errors import SpecError

APP = {"name": "app", "function": "app:main", "script": "app.py"}
TPE = {"_target_": "optuna.samplers.TPESampler", "seed": 7, "n_startup_trials": 10, "multivariate": False,
       "consider_prior": None}


def spec_of(node, arguments=(), tmp_path=None):
    native = translate({"sampler": TPE, **node}, list(arguments), APP).native
    return load(native, workdir=str(tmp_path))


@pytest.mark.parametrize("expr, optuna_plugin", [
    # what hydra-optuna-sweeper's create_optuna_distribution_from_override makes of each: Optuna's
    # distributions include their high end (and round it down onto the step)
    ("range(-5.5, 5.5, step=0.5)", FloatDistribution(-5.5, 5.5, step=0.5)),
    ("range(0, 5)", IntDistribution(0, 5, step=1)),
    ("range(0, 5, step=2)", IntDistribution(0, 5, step=2)),
    ("range(1, 10, step=3)", IntDistribution(1, 10, step=3)),
    ("range(0.0, 1.0, step=0.3)", FloatDistribution(0.0, 1.0, step=0.3)),
    ("interval(0, 4)", FloatDistribution(0.0, 4.0)),  # Hydra's interval casts its bounds to float
    ("int(interval(0, 4))", IntDistribution(0, 4)),
    ("interval(0.1, 1.0)", FloatDistribution(0.1, 1.0)),
    ("tag(log, interval(0.001, 1.0))", FloatDistribution(0.001, 1.0, log=True)),
    ("choice(-5, 0, 5)", CategoricalDistribution([-5, 0, 5])),
])
@pytest.mark.filterwarnings("ignore:The distribution is specified by")
def test_params_mean_what_they_mean_to_the_optuna_plugin(tmp_path, expr, optuna_plugin):
    spec = spec_of({"params": {"x": expr, "y": "choice(1, 2)"}}, tmp_path=tmp_path)
    ours = spec.params["x"].distribution()
    if isinstance(optuna_plugin, CategoricalDistribution):
        assert ours == optuna_plugin
    else:
        assert type(ours) is type(optuna_plugin) and ours.log == optuna_plugin.log and ours.step == optuna_plugin.step
        assert ours.low == pytest.approx(optuna_plugin.low) and ours.high == pytest.approx(optuna_plugin.high)


def test_the_grid_sampler_reads_range_without_its_end_as_the_optuna_plugin_does(tmp_path):
    native = translate({"sampler": {"_target_": "optuna.samplers.GridSampler", "seed": None},
                        "params": {"x": "range(0, 5)", "y": "choice(a, b)"}}, [], APP).native
    spec = load(native, workdir=str(tmp_path))
    assert spec.params["x"].grid_values() == [0, 1, 2, 3, 4] and spec.n_trials == 10


def test_the_nodes_keys_map_onto_the_sweep(tmp_path):
    node = {"direction": ["minimize", "maximize"], "study_name": "s", "n_trials": 8, "n_jobs": 3,
            "max_failure_rate": 0.25, "storage": "sqlite:///x.db", "custom_search_space": "custom-search.configure",
            "params": {"x": "interval(0.0, 1.0)"}, "metric": ["loss", "acc"], "timeout": 30, "retries": 1,
            "early_stop": None, "tracking": {"experiment": "e"}}
    native = translate({"sampler": {"_target_": "optuna.samplers.NSGAIISampler", "seed": 3, "population_size": 20},
                        **node}, ["y=choice(1,2)", "+w=5", "~z"], APP)
    n = native.native
    assert n["name"] == "s" and n["workers"] == 3 and n["max_failures"] == 2 and n["seed"] == 3
    assert n["objective"] == [{"metric": "loss", "goal": "minimize"}, {"metric": "acc", "goal": "maximize"}]
    assert n["search"] == {"method": "nsgaii", "population_size": 20, "configure": "custom-search:configure"}
    assert n["params"] == {"x": "interval(0.0, 1.0)", "y": "choice(1,2)", "+w": "5"}
    assert n["trial"] == {"function": "app:main", "hydra": "app.py", "timeout": 30, "retries": 1}
    assert n["tracking"] == {"experiment": "e"} and native.job_overrides == ["~z"]


def test_defaults_name_the_sweep_after_the_app_and_the_objective_objective(tmp_path):
    spec = spec_of({"params": {"x": "interval(0.0, 1.0)"}}, tmp_path=tmp_path)
    assert spec.name == "app" and spec.metrics == ("objective",) and spec.n_trials == 20 and spec.workers == 2
    assert spec.max_failures == 0 and spec.seed == 7 and spec.trial.hydra == "app.py"
    assert spec.search.options["n_startup_trials"] == 10 and "consider_prior" not in spec.search.options


@pytest.mark.parametrize("node, key, says", [
    ({"direction": "sideways"}, "direction", "allowed: minimize, maximize"),
    ({"max_failure_rate": 1.5}, "max_failure_rate", "from 0 to 1"),
    ({"sampler": {"_target_": "optuna.samplers.MOTPESampler"}}, "sampler", "motpe was removed"),
    ({"sampler": {"_target_": "my.Sampler"}}, "sampler._target_", "not a sampler sweeper runs"),
    ({"n_trails": 3}, "n_trails", "did you mean 'n_trials'"),
    ({"metric": ["a", "b"]}, "metric", "must name 1 metric"),
])
def test_a_bad_node_is_one_line_naming_the_key(node, key, says):
    with pytest.raises(SpecError) as e:
        translate({"sampler": TPE, "params": {"x": "interval(0.0, 1.0)"}, **node}, [], APP)
    assert f"hydra.sweeper: {key}:" in str(e.value) and says in str(e.value)


@pytest.mark.parametrize("launcher, backend, says", [
    ("hydra._internal.core_plugins.basic_launcher.BasicLauncher", None, None),
    ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", None, "sweeper's own workers run the jobs"),
    ("hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher", {"type": "ray"}, "sweeper's Ray backend"),
])
def test_hydras_launcher_is_not_used_and_a_user_who_set_one_is_told(caplog, launcher, backend, says):
    from omegaconf import OmegaConf

    from hydra_plugins.sweeper_sweeper._impl import SweeperSweeperImpl

    impl = SweeperSweeperImpl({})
    impl.config = OmegaConf.create({"hydra": {"launcher": {"_target_": launcher}}})
    native: dict = {}
    impl._launcher_note(native)
    assert native.get("backend") == backend
    assert (says in caplog.text) if says else not caplog.text
