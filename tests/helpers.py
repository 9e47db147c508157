"""What the end-to-end tests share: the processes they start (the CLI, an MLflow server, Ray nodes),
power cuts, bounded waits, and reads of a sweep's study. Fixtures live in conftest.py.

Test files import this module as `helpers` (pytest puts tests/ on sys.path for its rootdir conftest).
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SWEEP = [sys.executable, "-m", "sweeper.cli"]
#: how often a wait re-checks a condition that another process will make true
POLL_S = 0.05

T = TypeVar("T")


# ---- waiting for another process -----------------------------------------------------------------

def wait_for(condition: Callable[[], T], what: str, timeout: float = 120.0,
             proc: subprocess.Popen[Any] | None = None, interval: float = POLL_S) -> T:
    """Re-check `condition` every `interval` s until it returns something truthy, and return that.

    Fails with `what` in the message when `timeout` s pass, or when `proc` (the process expected to
    make the condition true) exits first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what} in vain")
        time.sleep(interval)


# ---- files and ports -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- the CLI -------------------------------------------------------------------------------------

def _env(drop: tuple[str, ...] = ("PYTHONPATH",)) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 240,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """`sweep ARGS` in `cwd`, to the end; `check` fails the test on a non-zero exit."""
    full_env = {**_env(), **(env or {})}
    p = subprocess.run([*SWEEP, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"sweep {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """`sweep ARGS` in `cwd`, in the background and in its own session (so a power cut can take all of it)."""
    return subprocess.Popen([*SWEEP, *args], cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


# ---- processes -----------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    out = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    for c in children:
        out += process_tree(int(c))
    return out


def cmdline(pid: int) -> str:
    """The command line of process `pid` ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().replace("\0", " ")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def power_cut(pid: int) -> None:
    """What a power cut does to a sweep: every process of it stops at once (SIGSTOP, then SIGKILL)."""
    seen: set[int] = set()
    for _ in range(5):
        tree = set(process_tree(pid))
        for p in tree - seen:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        if tree == seen:
            break
        seen |= tree
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the group, SIGKILL after `grace` s: `ray start --block` takes over 30 s to stop by itself,
    and its raylet and GCS are in the group, so the kill leaves nothing behind."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---- MLflow --------------------------------------------------------------------------------------

def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def start_mlflow_server(d: Path, port: int, timeout: float = 90) -> subprocess.Popen[bytes]:
    """A real `mlflow server` on loopback with its store in `d`; returns once its /health answers."""
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    with open(d / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{d}/server.db",
             "--default-artifact-root", str(d / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=log, start_new_session=True,
            # its job runner (GenAI judges, trace rollups: 7 huey processes, ~28 CPU-s to start) is
            # nothing sweeper uses; `sweep ui` turns it off too
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url), f"answer from {url}/health", timeout=timeout, proc=proc, interval=0.1)
    except AssertionError as e:
        stop_process_group(proc, grace=0)
        raise RuntimeError(f"mlflow server did not start: {e}\n" + (d / "server.log").read_text()[-2000:]) from None
    return proc


def stop_mlflow_server(proc: subprocess.Popen[bytes]) -> None:
    stop_process_group(proc, grace=10)


# ---- Ray -----------------------------------------------------------------------------------------

def start_ray(args: list[str], log_path: Path, timeout: float = 120) -> subprocess.Popen[bytes]:
    """`ray start --block ARGS` on loopback; returns once it has printed that its runtime started."""
    ray_bin = Path(sys.executable).parent / "ray"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(ray_bin), "start", "--block", "--node-ip-address=127.0.0.1", *args],
                                stdout=log, stderr=log, env=_env(("PYTHONPATH", "MLFLOW_TRACKING_URI")),
                                start_new_session=True)
    try:
        wait_for(lambda: b"Ray runtime started" in log_path.read_bytes(), "'Ray runtime started' line",
                 timeout=timeout, proc=proc, interval=0.1)
    except AssertionError as e:
        stop_process_group(proc)
        raise RuntimeError(f"ray start failed: {e}\n" + log_path.read_text()[-2000:]) from None
    return proc


def start_ray_node(address: str, log_path: Path) -> subprocess.Popen[bytes]:
    """A second node (its own raylet and node id) joining the test cluster, with 1 CPU."""
    return start_ray([f"--address={address}", "--num-cpus=1"], log_path)


# ---- benchmarks ----------------------------------------------------------------------------------

def import_benchmark(name: str) -> Any:
    """A module of benchmarks/ (they import their siblings by putting benchmarks/ on sys.path)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


# ---- a sweep's study, read while it runs ---------------------------------------------------------

def _query(db: Path | str, sql: str, *args: Any) -> int:
    """One number from the study's SQLite file, read-only; 0 while the file or its tables do not exist yet."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return c.execute(sql, args).fetchone()[0]
    except sqlite3.Error:
        return 0


def count(db: Path | str, state: str) -> int:
    """How many trials of the study in `db` are in `state` (COMPLETE, RUNNING, ...)."""
    return _query(db, "select count(*) from trials where state=?", state)


def mid_trial(db: Path | str) -> int:
    """How many RUNNING trials have reported a step: their workers are inside the trial's body."""
    return _query(db, "select count(distinct t.trial_id) from trials t join trial_intermediate_values v "
                      "on v.trial_id = t.trial_id where t.state = 'RUNNING'")


def kill_when(proc: subprocess.Popen[bytes], db: Path, complete: int, timeout: float = 120) -> None:
    """Power-cut the sweep `proc` once `complete` trials are COMPLETE and another is mid-trial."""
    wait_for(lambda: count(db, "COMPLETE") >= complete, f"{complete} COMPLETE trials before the kill",
             timeout=timeout, proc=proc)
    wait_for(lambda: mid_trial(db), "trial mid-run (a RUNNING trial that reported a step) for the kill to cut off",
             timeout=timeout, proc=proc)
    power_cut(proc.pid)
    proc.wait()


def check_exactly_once(workdir: Path, name: str, n: int) -> list[Any]:
    """After kills and a resume: `n` trials COMPLETE, each cut-off trial re-run with its params, and
    MLflow shows one FINISHED run per COMPLETE trial and one KILLED run per cut-off one."""
    import mlflow
    import optuna

    db = workdir / ".sweeps" / "sweeps.db"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    trials = study.trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    interrupted = [t for t in trials if t.user_attrs.get("sweeper.interrupted")]
    assert len(complete) == n and not [t for t in trials if t.state.name == "RUNNING"]
    assert interrupted, "the kills did not land mid-trial"
    done_params = [t.params for t in complete]
    # re-run with the same params; only a trial cut off before the grid gave it a point has none
    assert all(t.params in done_params or (t.user_attrs.get("sweeper.no_retry") and not t.params) for t in interrupted)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    finished = [k for k in kids if k.info.status == "FINISHED"]
    assert sorted(int(k.data.tags["trial.number"]) for k in finished) == sorted(t.number for t in complete)
    killed = {int(k.data.tags["trial.number"]) for k in kids if k.info.status == "KILLED"}
    assert killed == {t.number for t in interrupted}
    assert not [k for k in kids if k.info.status == "RUNNING"]
    retries = [k for k in kids if k.data.tags.get("trial.retry_of")]
    assert len(retries) >= len([t for t in interrupted if not t.user_attrs.get("sweeper.no_retry")])
    return trials
