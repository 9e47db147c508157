"""The Python API end to end: an in-memory config run to its Result, silently; pruning raised by
the trial; the study opened for analysis; a resume that runs only the extra trials."""

from __future__ import annotations

import math
import statistics

import mlflow
import optuna
import pytest

from sweeper import api
from sweeper.errors import SpecError, SweepError
from sweeper.state.store import counts

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


@pytest.mark.slow
def test_a_warm_start_informs_the_first_trials_and_imports_only_history(workdir):
    base = {**CONFIG, "params": {"x": "interval(-5.0, 5.0)"}, "workers": 1, "seed": 3}
    api.run(api.load({**base, "name": "earlier", "n_trials": 30, "search": {"method": "random"}}, workdir=str(workdir)))
    lines: list[str] = []
    tpe = {"method": "tpe", "n_startup_trials": 10}
    warm = api.run(api.load({**base, "name": "warm", "n_trials": 10, "search": tpe, "warm_start": {"from": "earlier"}},
                            workdir=str(workdir)), echo=lines.append)
    api.run(api.load({**base, "name": "cold", "n_trials": 10, "search": tpe}, workdir=str(workdir)))
    assert lines[0] == "warm start: 30 finished trials of 'earlier' join the history"
    storage = storage_of(workdir)
    w = optuna.load_study(study_name="warm", storage=storage).trials
    cold = optuna.load_study(study_name="cold", storage=storage).trials
    imported = [t for t in w if "sweeper.imported_from" in t.user_attrs]
    own = [t for t in w if t not in imported]
    assert len(imported) == 30 and len(own) == 10 and all(t.state.name == "COMPLETE" for t in own)
    assert {t.user_attrs["sweeper.imported_from"] for t in imported} == {f"earlier#{n}" for n in range(30)}
    # TPE starts from the history: its first 10 trials sit nearer the optimum (x = 0) than 10 cold ones
    mean = statistics.mean
    assert mean(t.value for t in own) < mean(t.value for t in cold) / 3, ([t.value for t in own], [t.value for t in cold])
    # the result is this sweep's own: the best, the status counts and the MLflow runs leave the history out
    assert warm.best_number in {t.number for t in own}
    c = counts(w)
    assert (c.complete, c.finished, c.imported) == (10, 10, 30)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    kids = [r for r in client.search_runs([client.get_experiment_by_name("warm").experiment_id], max_results=100)
            if "mlflow.parentRunId" in r.data.tags]
    assert sorted(int(k.data.tags["trial.number"]) for k in kids) == sorted(t.number for t in own)


def test_a_warm_start_from_a_sweep_that_is_not_there_is_one_line_and_creates_nothing(workdir):
    spec = api.load({**CONFIG, "name": "w2", "warm_start": {"from": "nowhere"}}, workdir=str(workdir))
    with pytest.raises(SpecError, match="warm_start.from: no sweep named 'nowhere'"):
        api.run(spec)
    assert not (workdir / ".sweeps").exists() or "w2" not in [
        s.study_name for s in optuna.get_all_study_summaries(storage_of(workdir))]
