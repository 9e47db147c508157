"""The Hydra Sweeper plugin end to end: `python app.py --multirun` with `hydra/sweeper: sweeper`.

hydra-optuna-sweeper's three examples run as they are (only the sweeper line of their configs
changed; vendored in hydra_apps/optuna_examples); an app of ours (hydra_apps/groups) sweeps a config
group, reads HydraConfig, crashes on demand, reports for early stopping and holds jobs at a gate for
the Ctrl-C test. Every run is a real multirun in a subprocess with its own study and MLflow store.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from helpers import TESTS, run_cli, wait_for

APPS = TESTS / "hydra_apps"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch copy of the test apps, its own study store and MLflow store."""
    shutil.copytree(APPS / "optuna_examples", tmp_path, dirs_exist_ok=True)
    shutil.copytree(APPS / "groups", tmp_path / "groups")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def multirun(folder: Path, script: str, *overrides: str, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SWEEPER_REPORT": "0", **(env or {})}
    full.pop("PYTHONPATH", None)
    p = subprocess.run([sys.executable, script, "--multirun", *overrides], cwd=folder, env=full,
                       capture_output=True, text=True, timeout=240)
    if check and p.returncode != 0:
        raise AssertionError(f"{script} --multirun exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def study(folder: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/.sweeps/sweeps.db")


def runs(folder: Path, name: str) -> tuple[list, list]:
    """(parent runs, trial runs) of MLflow experiment `name`."""
    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    rs = client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)
    return ([r for r in rs if "mlflow.parentRunId" not in r.data.tags],
            [r for r in rs if "mlflow.parentRunId" in r.data.tags])


def job_dirs(folder: Path, base: str = "multirun") -> list[Path]:
    return sorted(p.parent.parent for p in (folder / base).glob("**/.hydra/overrides.yaml"))


def results(folder: Path, base: str = "multirun") -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in (folder / base).glob("**/optimization_results.yaml")]


def test_sphere_runs_as_hydra_jobs_and_writes_optimization_results(app):
    multirun(app, "sphere.py", "hydra.sweeper.n_trials=6")
    st = study(app, "sphere")  # study_name names the sweep
    trials = st.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    for t in trials:
        x, y = t.params["x"], t.params["y"]
        # the Optuna plugin's range(-5.5, 5.5, step=0.5) includes its end point
        assert -5.5 <= x <= 5.5 and (x * 2).is_integer() and y in (-5, 0, 5)
        assert t.value == x ** 2 + y ** 2
    jobs = job_dirs(app)
    assert len(jobs) == 6
    for job in jobs:  # a real Hydra job: its folder, .hydra files, the job's log, the trial's params
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        number = int(job.name)
        assert (cfg["x"], cfg["y"]) == (trials[number].params["x"], trials[number].params["y"])
        assert (job / "sphere.log").exists()
    (res,) = results(app)
    best = min(trials, key=lambda t: t.value)
    assert res["best_value"] == best.value and res["best_params"] == best.params
    parents, kids = runs(app, "sphere")
    assert len(parents) == 1 and len(kids) == 6
    # its jobs need the app: `sweep resume` says to rerun the app's command instead
    refused = run_cli(["resume", "sphere"], app)
    assert refused.returncode == 2 and "running the app's --multirun command again" in refused.stderr


@pytest.mark.parametrize("override, says", [
    ("hydra.sweeper.direction=sideways", "error: hydra.sweeper: direction: 'sideways' is not allowed"),
    ("hydra.sweeper.custom_search_space=nosuch.configure",
     "error: hydra.sweeper: custom_search_space: cannot import module 'nosuch'"),
    ("x=interval(1,0)", "error: hydra.sweeper: params.x: interval low 1.0 must be below high 0.0"),
])
def test_bad_input_is_one_line_naming_the_key_and_creates_nothing(app, override, says):
    p = multirun(app, "sphere.py", override, check=False)
    assert p.returncode == 1 and says in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not {".sweeps", "mlflow.db", "multirun"} & {q.name for q in app.iterdir()}



def test_multi_objective_example_returns_a_tuple_and_writes_the_front(app):
    multirun(app, "multi-objective.py", "hydra.sweeper.n_trials=5")
    st = study(app, "multi-objective")
    assert [d.name for d in st.directions] == ["MINIMIZE", "MINIMIZE"]
    trials = st.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    for t in trials:  # Binh and Korn, returned as a tuple by the unchanged app
        x, y = t.params["x"], t.params["y"]
        assert t.values == [4 * x ** 2 + 4 * y ** 2, (x - 5) ** 2 + (y - 5) ** 2]
    (res,) = results(app)
    front = {(tuple(s["params"].items()), tuple(s["values"])) for s in res["solutions"]}
    assert front == {(tuple(t.params.items()), tuple(t.values)) for t in st.best_trials}


def test_custom_search_space_example_adds_define_by_run_params(app):
    multirun(app, "custom-search-space-objective.py", "hydra.sweeper.n_trials=4")
    trials = study(app, "custom-search-space").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for t in trials:  # configure(cfg, trial): z within max_z_difference_from_x of x, and a new key w
        p = t.params
        assert abs(p["z"] - p["x"]) <= 0.5 + 1e-9 and 0.0 <= p["+w"] <= 1.0
        assert t.value == pytest.approx(p["+w"] ** 2 + p["x"] ** 2 + p["y"] ** 2 + p["z"] ** 2)
    parents, kids = runs(app, "custom-search-space")
    assert len(kids) == 4 and all({"x", "y", "z", "w"} <= set(k.data.params) for k in kids)
    best = min(trials, key=lambda t: t.value)
    assert parents[0].data.tags["best.w"] == str(best.params["+w"])  # `+w` is w in MLflow


def test_a_config_group_swept_as_a_choice_hydra_config_a_crashing_job_and_pruning(app):
    """`db=choice(mysql,postgresql)` on the command line selects config group options; each job sees
    its own HydraConfig; the job that raises fails alone; `sweeper.report` in the task lets the
    median rule stop trials early (a seeded random sampler, one worker: the same trials every time)."""
    multirun(app, "groups/app.py", "db=choice(mysql,postgresql)", "x=choice(0,1,2,3)", "crash_on=postgresql",
             "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=2", "hydra.sweeper.n_trials=5",
             "hydra.sweeper.n_jobs=1", "hydra.sweeper.metric=loss",
             "hydra.sweeper.early_stop={type: median, startup_trials: 1}")
    trials = study(app, "groups").get_trials()
    states = [t.state.name for t in trials]
    assert len(trials) == 5 and "PRUNED" in states and {t.params["db"] for t in trials} == {"mysql", "postgresql"}
    for t in trials:
        if (t.params["db"], t.params["x"]) == ("postgresql", 1):
            assert t.state.name == "FAIL"
            assert t.user_attrs["sweeper.error"] == "RuntimeError: postgresql cannot take x=1"
        elif t.state.name == "COMPLETE":
            assert t.value == pytest.approx(t.params["x"] + {"mysql": 0.3306, "postgresql": 0.5432}[t.params["db"]])
            assert len(t.intermediate_values) == 3
        else:  # stopped at a report worse than the median of the finished trials at that step
            assert t.state.name == "PRUNED" and len(t.intermediate_values) < 3
    seen = {}
    for job in job_dirs(app):  # HydraConfig.get().runtime.output_dir is the job's own folder
        db, x, num = (job / "seen.txt").read_text().split()
        seen[int(num)] = (db, int(x))
        assert job.name == num
    assert seen == {t.number: (t.params["db"], t.params["x"]) for t in trials}
    parents, kids = runs(app, "groups")
    assert len(parents) == 1 and len(kids) == 5


def test_ctrl_c_of_the_multirun_then_the_same_command_runs_only_the_missing_trials(app):
    gate = app / "gate"
    gate.mkdir()
    argv = [sys.executable, "groups/app.py", "--multirun", "x=choice(0,1,2,3)", "hydra.sweeper.study_name=cut"]
    env = {**os.environ, "SWEEPER_REPORT": "0", "GATE": str(gate)}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(argv, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # jobs 0 and 1 finish, 2 and 3 wait at the gate: then Ctrl-C
        wait_for(lambda: (gate / "waiting-2").exists() and (gate / "waiting-3").exists(), "jobs 2 and 3 at the gate",
                 proc=proc)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "interrupted: continue the sweep by running the same command again" in out, out
    first = study(app, "cut").get_trials()
    assert [t.state.name for t in first] == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    (gate / "go").touch()

    multirun(app, "groups/app.py", "x=choice(0,1,2,3)", "hydra.sweeper.study_name=cut", env={"GATE": str(gate)})
    trials = study(app, "cut").get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(trials) == 6 and sorted(t.params["x"] for t in complete) == [0, 1, 2, 3]
    assert [t.number for t in complete][:2] == [0, 1]  # the finished ones did not run again
    ran = [job.name for job in job_dirs(app)]
    assert sorted(ran) == ["0", "1", "2", "3", "4", "5"]  # 2 and 3 cut, 4 and 5 their re-runs
    parents, kids = runs(app, "cut")
    assert len(parents) == 1 and len(kids) == 6
    assert math.isclose(min(t.value for t in complete), 0.3306)


HYDRA_MAIN = '''
import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg):
    out = HydraConfig.get().runtime.output_dir
    assert cfg.out == out, (cfg.out, out)  # ${hydra:...} resolves to the same folder
    assert out.endswith("/.sweeps/hmain/trials/" + str(HydraConfig.get().job.num)), out  # the trial's
    return float(cfg.x)
'''


def test_sweep_launch_gives_a_hydra_main_function_trial_its_hydra_config(workdir):
    """Issue 15 part 4: a `@hydra.main` app as `trial.function` may call HydraConfig.get() and use
    `${hydra:runtime.output_dir}` (its output folder is the trial's)."""
    from sweeper import api

    (workdir / "conf").mkdir()
    (workdir / "conf" / "config.yaml").write_text("x: 1\nout: ${hydra:runtime.output_dir}\n")
    (workdir / "happ.py").write_text(HYDRA_MAIN)
    spec = api.load({"name": "hmain", "objective": {"metric": "loss"}, "params": {"x": "interval(0.0, 1.0)"},
                     "trial": {"function": "happ:main", "config": "conf/config.yaml"}, "n_trials": 1, "workers": 1},
                    workdir=str(workdir))
    api.run(spec)
    (t,) = api.open_study("hmain").get_trials()
    assert t.state.name == "COMPLETE", t.user_attrs
