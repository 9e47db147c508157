"""`search.configure`: define-by-run params added by a user's function (hydra-optuna-sweeper's
`custom_search_space` contract) through the API end to end: they reach the trial's config, the study
and MLflow; a configure that raises fails its trial alone; a bad target is refused at launch with
nothing created; a resumed sweep re-asks an interrupted define-by-run trial with the same params."""

from __future__ import annotations

import textwrap

import mlflow
import optuna
import pytest

from sweeper import api
from sweeper.errors import SpecError
from sweeper.state import attrs

SPACE = textwrap.dedent('''
    def configure(cfg, trial):
        """z within cfg.zmax of the drawn x, and a new key w (Hydra's +w); trials 1 and 4 it refuses."""
        x = trial.params["x"]
        if trial.number in (1, 4):
            raise ValueError(f"trial {trial.number} is not configurable")
        trial.suggest_float("z", x - cfg.zmax, x + cfg.zmax)
        trial.suggest_float("+w", 0.0, 1.0)
''')

CONFIG = {
    "name": "dbr",
    "objective": {"metric": "loss"},
    "params": {"x": "interval(-1.0, 1.0)", "zmax": 0.25},
    "trial": {"function": "objectives:xzw"},
    "search": {"method": "random", "configure": "space:configure"},
    "n_trials": 6,
    "workers": 2,
    "seed": 3,
}


@pytest.fixture
def project(workdir):
    (workdir / "space.py").write_text(SPACE)
    return workdir


@pytest.mark.parametrize("target, says", [("nosuch:configure", "cannot import module 'nosuch'"),
                                          ("space:nosuch", "has no attribute 'nosuch'"),
                                          ("space.configure", "package.module:function")])
def test_a_bad_configure_target_is_refused_before_anything_is_created(project, target, says):
    config = {**CONFIG, "search": {"method": "random", "configure": target}}
    with pytest.raises(SpecError) as e:
        api.run(api.load(config, workdir=str(project)))
    assert "search.configure" in str(e.value) and says in str(e.value)
    assert not (project / ".sweeps").exists() and not (project / "mlflow.db").exists()


def test_grid_refuses_configure(project):
    config = {**CONFIG, "params": {"x": "choice(-1.0, 1.0)", "zmax": 0.25},
              "search": {"method": "grid", "configure": "space:configure"}}
    with pytest.raises(SpecError, match="search.configure"):
        api.load(config, workdir=str(project))


def test_define_by_run_params_reach_trial_study_mlflow_and_a_resume_redraws_them_alike(project):
    """configure's params are in each trial's config, the study and its MLflow run (`+w` as `w`); a
    configure that raises fails its trial alone. A trial the study holds as RUNNING under no live
    driver (a power cut inside it) is re-run on resume: asked again with its recorded params
    enqueued, configure draws the very same z and w."""
    api.run(api.load({**CONFIG, "name": "dbr", "n_trials": 6, "max_failures": 6}, workdir=str(project)))
    study = api.open_study("dbr")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    for t in trials:
        x = t.params["x"]
        if t.number in (1, 4):  # refused by configure: failed alone, with its error
            assert t.user_attrs[attrs.ERROR] == f"search.configure raised ValueError: trial {t.number} is not configurable"
            continue
        z, w = t.params["z"], t.params["+w"]
        assert t.state.name == "COMPLETE" and abs(z - x) <= 0.25 + 1e-12 and 0.0 <= w <= 1.0
        assert t.value == pytest.approx(x * x + z * z + w * w)  # the trial's config had them
    client = mlflow.MlflowClient(f"sqlite:///{project}/mlflow.db")
    kids = client.search_runs([client.get_experiment_by_name("dbr").experiment_id], "tags.mlflow.parentRunId != ''")
    complete = sum(t.state.name == "COMPLETE" for t in trials)
    assert len(kids) == complete and all({"x", "z", "w", "zmax"} <= set(k.data.params) for k in kids)

    cut = study.ask({"x": optuna.distributions.FloatDistribution(-1.0, 1.0)})  # left RUNNING, as a cut leaves it
    cut.suggest_float("z", cut.params["x"] - 0.25, cut.params["x"] + 0.25)
    cut.suggest_float("+w", 0.0, 1.0)
    recorded = dict(cut.params)
    api.resume("dbr", overrides=["n_trials=7"])
    trials = api.open_study("dbr").get_trials()
    assert trials[cut.number].state.name == "FAIL" and trials[cut.number].user_attrs.get(attrs.INTERRUPTED)
    rerun = [t for t in trials if t.user_attrs.get(attrs.RETRY_OF) == cut.number]
    assert len(rerun) == 1 and rerun[0].state.name == "COMPLETE"
    assert rerun[0].params == pytest.approx(recorded)
    assert len(trials) == 8
