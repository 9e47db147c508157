"""Fixtures: a real MLflow server on loopback, scratch working directories, a CLI runner."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SWEEP = [sys.executable, "-m", "sweeper.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mlflow_server(d: Path, port: int) -> subprocess.Popen[bytes]:
    """A real `mlflow server` on loopback with its store in `d`; returns once it answers."""
    log = open(d / "server.log", "ab")
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{d}/server.db",
         "--default-artifact-root", str(d / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError("mlflow server exited: " + (d / "server.log").read_text()[-2000:])
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError("mlflow server did not start in 90 s")
    log.close()
    return proc


def stop_mlflow_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` process on a loopback port, stopped after the session."""
    d = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = start_mlflow_server(d, port)
    yield f"http://127.0.0.1:{port}"
    stop_mlflow_server(proc)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server (pgserver's bundled binaries), local socket only, stopped after the session."""
    import pgserver

    d = tmp_path_factory.mktemp("postgres")
    os.chmod(d, 0o755)  # as root, pgserver runs postgres as its own user, which must reach the folder
    srv = pgserver.get_server(d / "data", cleanup_mode="stop")
    uri = srv.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    yield uri.replace("postgresql://", "postgresql+psycopg://", 1)
    srv.cleanup()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch project folder with the test objectives importable and its own embedded stores."""
    shutil.copy(TESTS / "objectives.py", tmp_path / "objectives.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 240,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONPATH", None)
    p = subprocess.run([*SWEEP, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"sweep {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def process_tree(pid: int) -> list[int]:
    out = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    for c in children:
        out += process_tree(int(c))
    return out


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


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen([*SWEEP, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _ray_start(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    ray_bin = Path(sys.executable).parent / "ray"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(ray_bin), "start", "--block", "--node-ip-address=127.0.0.1", *args],
                                stdout=log, stderr=log, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while b"Ray runtime started" not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process_group(proc)
            raise RuntimeError("ray start failed: " + log_path.read_text()[-2000:])
        time.sleep(0.5)
    return proc


def start_ray_node(address: str, log_path: Path) -> subprocess.Popen[bytes]:
    """A second node (its own raylet and node id) joining the test cluster, with 1 CPU."""
    return _ray_start([f"--address={address}", "--num-cpus=1"], log_path)


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


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real local Ray cluster on loopback with 2 CPUs and 2 declared GPUs, stopped after its module
    (an idle Ray holds ~1 GB and wakes often: the later tests get the 2 cores back)."""
    d = tmp_path_factory.mktemp("ray")
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = free_port()
    # a token in ~/.ray (left by any earlier local Ray) would make Ray 2.60's joins fail: the
    # loopback test cluster and its clients run without token auth
    saved_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    proc = _ray_start(["--head", f"--port={port}", "--num-cpus=2", "--num-gpus=2", f"--temp-dir={ray_tmp}",
                       "--include-dashboard=false"],
                      d / "ray.log")
    yield f"127.0.0.1:{port}"
    stop_process_group(proc)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if saved_auth is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = saved_auth


def import_benchmark(name: str) -> Any:
    """A module of benchmarks/ (they import their siblings by putting benchmarks/ on sys.path)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)
