"""Two `sweep launch` of one sweep at the same moment, in a fresh folder (two terminals, a retried CI
job): one runs the sweep, the other is refused with the usual line, and the refused one never
replaces or removes what the first created. Before the fix, the second launch's new, empty study
database was renamed over the first one's while it ran: the winner crashed with a traceback
(`KeyError: 'Record does not exist.'`) and its trials were gone. The test runs 8 races,
four at a time in their own folders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow
import optuna
import pytest
from helpers import SWEEP, _env, write

SWEEP_FILE = """
name: race
objective: {metric: loss}
params: {x: "interval(0.0, 3.0)", y: "choice(0, 1)"}
trial: {function: objectives:quadratic}
n_trials: 2
workers: 1
search: {method: random}
seed: 0
"""


RACES = 8
AT_ONCE = 4  # races side by side, each in its own folder: 8 in the time of 2, and a busier machine


def _check_race(folder: Path, outs: list[tuple[int, str, str]]) -> None:
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0, 2], f"exit codes {codes}: " + " || ".join(err[-800:] for _, _, err in outs)
    for code, _, err in outs:
        assert "Traceback" not in err, err[-1500:]
        if code == 2:
            assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
            assert "already exists" in err, err
    study = optuna.load_study(study_name="race", storage=f"sqlite:///{folder}/.sweeps/sweeps.db")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 2 and len(study.trials) == 2
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id], max_results=100)
    assert len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 1, "parents"
    assert len([r for r in runs if r.info.status == "FINISHED" and "mlflow.parentRunId" in r.data.tags]) == 2


@pytest.mark.slow
@pytest.mark.timeout(900)  # 8 races with resumes: minutes on 2 cores, more under load
def test_same_name_launches_race_without_harm(workdir):
    failures = []
    for first in range(0, RACES, AT_ONCE):
        folders = []
        for i in range(first, min(RACES, first + AT_ONCE)):
            folder = workdir / f"race{i}"
            folder.mkdir()
            shutil.copy(workdir / "objectives.py", folder)
            write(folder / "sweep.yaml", SWEEP_FILE)
            folders.append(folder)
        # both launches of a race start back to back; the races of a batch run side by side
        procs = {f: [subprocess.Popen([*SWEEP, "launch", "sweep.yaml"], cwd=f, env=_env(), text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
                 for f in folders}
        for folder, pair in procs.items():
            outs = [(p.wait(timeout=300), *p.communicate()) for p in pair]
            try:
                _check_race(folder, outs)
            except AssertionError as e:
                failures.append(f"{folder.name}: {e}")
    assert not failures, f"{len(failures)} of {RACES} races went wrong:\n" + "\n".join(failures)
