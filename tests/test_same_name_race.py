"""Two `sweep launch` of one sweep at the same moment, in a fresh folder (two terminals, a retried CI
job): one runs the sweep, the other is refused with the usual line, and the refused one never
replaces or removes what the first created. Before the fix, the second launch's new, empty study
database was renamed over the first one's while it ran: the winner crashed with a traceback
(`KeyError: 'Record does not exist.'`) and its trials were gone."""

from __future__ import annotations

import shutil
import subprocess

import mlflow
import optuna
import pytest
from helpers import SWEEP, _env, write

SWEEP_FILE = """
name: race
objective: {metric: loss}
params: {x: "interval(0.0, 3.0)", y: "choice(0, 1)"}
trial: {function: objectives:quadratic}
n_trials: 4
workers: 2
search: {method: random}
seed: 0
"""


@pytest.mark.slow
def test_same_name_launches_race_without_harm(workdir):
    write(workdir / "sweep.yaml", SWEEP_FILE)
    for i in range(3):  # before the fix, 2 races of 4 went wrong (test_storage_creation.py pins the cause)
        for stale in (".sweeps", "mlruns"):
            shutil.rmtree(workdir / stale, ignore_errors=True)
        (workdir / "mlflow.db").unlink(missing_ok=True)
        procs = [subprocess.Popen([*SWEEP, "launch", "sweep.yaml"], cwd=workdir, env=_env(), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        outs = [(p.wait(timeout=240), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in outs)
        assert codes == [0, 2], f"race {i}: exit codes {codes}: " + " || ".join(err[-800:] for _, _, err in outs)
        for code, _, err in outs:
            assert "Traceback" not in err, f"race {i}: {err[-1500:]}"
            if code == 2:
                assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
                assert "already exists" in err, err
        study = optuna.load_study(study_name="race", storage=f"sqlite:///{workdir}/.sweeps/sweeps.db")
        assert sum(t.state.name == "COMPLETE" for t in study.trials) == 4 and len(study.trials) == 4, f"race {i}"
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
        runs = client.search_runs([client.get_experiment_by_name("race").experiment_id], max_results=100)
        assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1, f"race {i}: parents"
        assert len([r for r in runs if r.info.status == "FINISHED" and "mlflow.parentRunId" in r.data.tags]) == 4
