"""The Python API end to end: an in-memory config run to its Result, silently; pruning raised by
the trial; the study opened for analysis; a resume that runs only the extra trials."""

from __future__ import annotations

import math

import mlflow
import optuna
import pytest

from sweeper import api
from sweeper.errors import SweepError

CONFIG = {
    "name": "api",
    "objective": {"metric": "loss"},
    "params": {"x": "interval(-5.0, 5.0)"},
    "trial": {"function": "objectives:trivial"},
    "search": {"method": "random"},
    "n_trials": 5,
    "workers": 2,
    "seed": 0,
}


def storage_of(workdir) -> str:
    return f"sqlite:///{workdir}/.sweeps/sweeps.db"


def test_run_of_an_in_memory_config_returns_the_best_and_prints_nothing(workdir, capfd):
    spec = api.load(CONFIG, workdir=str(workdir))
    result = api.run(spec)
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"api.run printed:\nstdout: {out!r}\nstderr: {err!r}"
    assert not [p.name for p in workdir.iterdir() if p.suffix in (".yaml", ".yml")]  # no sweep file was written
    assert spec.storage == storage_of(workdir)

    study = optuna.load_study(study_name="api", storage=spec.storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    best = min(study.trials, key=lambda t: t.value)
    assert (result.name, result.state) == ("api", "FINISHED")
    assert result.best_number == best.number and result.best_params == best.params == {"x": best.params["x"]}
    assert result.best_value == best.value == best.params["x"] ** 2 and result.best_values == [best.value]
    assert result.elapsed_s > 0

    # the tracker's reference is the sweep's MLflow parent run, with one child run per trial
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    parent = client.get_run(result.where["mlflow"])
    assert parent.info.status == "FINISHED" and parent.info.run_name == "api"
    assert math.isclose(parent.data.metrics["best_loss"], best.value)
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(k.data.tags["trial.number"]) for k in kids) == [0, 1, 2, 3, 4]


def test_a_trial_raising_optunas_or_sweepers_trial_pruned_is_pruned(workdir):
    config = {**CONFIG, "name": "pruning", "params": {"how": "choice(optuna, sweeper, none)", "x": 1.0},
              "trial": {"function": "objectives:prunes"}, "search": {"method": "grid"}}
    del config["n_trials"]  # the grid's 3 points
    result = api.run(api.load(config, workdir=str(workdir)))
    study = optuna.load_study(study_name="pruning", storage=storage_of(workdir))
    by_how = {t.params["how"]: t for t in study.trials}
    assert sorted(by_how) == ["none", "optuna", "sweeper"] and len(study.trials) == 3
    for how in ("optuna", "sweeper"):
        t = by_how[how]
        assert t.state.name == "PRUNED", (how, t.state.name, t.user_attrs.get("sweeper.error"))
        assert t.intermediate_values == {0: 1.0, 1: 2.0} and "sweeper.error" not in t.user_attrs
    assert by_how["none"].state.name == "COMPLETE" and by_how["none"].value == 1.0
    assert result.state == "FINISHED" and result.best_number == by_how["none"].number


def test_open_study_gives_the_optuna_study_with_its_trials(workdir):
    result = api.run(api.load({**CONFIG, "n_trials": 3}, workdir=str(workdir)))
    study = api.open_study("api", storage_of(workdir))
    assert isinstance(study, optuna.Study) and study.study_name == "api"
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state.name == "COMPLETE" and t.value == t.params["x"] ** 2 for t in study.trials)
    assert study.best_trial.number == result.best_number and study.best_value == result.best_value
    # with no storage given: the default one of the current directory, which is where this sweep ran
    assert [t.params for t in api.open_study("api").trials] == [t.params for t in study.trials]
    with pytest.raises(SweepError, match=r"no sweep named 'nope' in this storage \(known: api\)"):
        api.open_study("nope", storage_of(workdir))


def test_resume_with_more_trials_runs_only_the_extra_ones(workdir, capfd):
    api.run(api.load({**CONFIG, "n_trials": 3}, workdir=str(workdir)))
    before = optuna.load_study(study_name="api", storage=storage_of(workdir)).trials
    said: list[str] = []
    result = api.resume("api", storage_of(workdir), overrides=["n_trials=5"], echo=said.append)
    after = optuna.load_study(study_name="api", storage=storage_of(workdir)).trials
    assert [t.number for t in after] == [0, 1, 2, 3, 4] and [t.state.name for t in after] == ["COMPLETE"] * 5
    for old, now in zip(before, after[:3], strict=True):  # the first three were not run again
        assert (now.params, now.value, now.datetime_start, now.datetime_complete) == (
            old.params, old.value, old.datetime_start, old.datetime_complete)
    assert all(t.datetime_start >= before[-1].datetime_complete for t in after[3:])
    best = min(after, key=lambda t: t.value)
    assert result.state == "FINISHED" and result.best_number == best.number
    assert any(line.startswith("best loss=") for line in said), said  # echo hears what the CLI says
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"the API printed:\nstdout: {out!r}\nstderr: {err!r}"

    # the budget is met: resuming again runs nothing
    again = api.resume("api", storage_of(workdir))
    assert len(optuna.load_study(study_name="api", storage=storage_of(workdir)).trials) == 5
    assert again.best_number == best.number
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("api").experiment_id], max_results=100)
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) - len(kids) == 1 and sorted(int(k.data.tags["trial.number"]) for k in kids) == [0, 1, 2, 3, 4]


def test_a_script_without_a_main_guard_runs_once(workdir):
    """The MLflow writer is a spawned process: it must not re-run the user's script (no
    `if __name__ == "__main__":` in it), which would launch the sweep a second time inside it."""
    import subprocess
    import sys

    (workdir / "script.py").write_text(
        "from sweeper import api\n"
        "spec = api.load({'name': 'script', 'objective': {'metric': 'loss'}, 'params': {'x': 'interval(0.0, 3.0)',"
        " 'y': 'choice(0, 1)'}, 'trial': {'function': 'objectives:quadratic'}, 'n_trials': 3, 'seed': 0})\n"
        "print('state', api.run(spec).state)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "script.py"], cwd=workdir, env=env, capture_output=True, text=True,
                       timeout=240)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert p.stdout.splitlines() == ["state FINISHED"]
    assert len(api.open_study("script", f"sqlite:///{workdir}/.sweeps/sweeps.db").trials) == 3


@pytest.mark.slow
def test_seed_trials_run_first_with_their_params_and_count_toward_n_trials(workdir):
    config = {**CONFIG, "name": "seeded", "params": {"x": "interval(-2.0, 2.0)", "k": "choice(a, b)"},
              "seed_trials": [{"x": 0.25, "k": "b"}, {"x": -1.5}], "n_trials": 4, "workers": 1}
    spec = api.load(config, workdir=str(workdir))
    api.run(spec)
    study = optuna.load_study(study_name="seeded", storage=spec.storage)
    trials = study.trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    assert trials[0].params == {"x": 0.25, "k": "b"} and trials[0].user_attrs["sweeper.seed_trial"] == 0
    assert trials[1].params["x"] == -1.5 and trials[1].user_attrs["sweeper.seed_trial"] == 1  # k sampled
    assert not any("sweeper.seed_trial" in t.user_attrs for t in trials[2:])
