"""Fixtures: a real MLflow server on loopback, a real PostgreSQL, a real Ray cluster, scratch working
directories. The plain functions the tests share live in helpers.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import TESTS, free_port, start_mlflow_server, start_ray, stop_mlflow_server, stop_process_group

# The report a sweep writes at its end (plots, ~2 s) is checked where it is the subject
# (test_layout, test_report*); the suite's ~70 other sweeps skip it, as SWEEPER_REPORT=0 lets users do.
os.environ.setdefault("SWEEPER_REPORT", "0")
# The suite runs offline: MLflow's telemetry would start a thread in every process that imports
# MLflow (each sweep's writer, the test process, the servers) to fetch its config from the internet.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# The longest modules first. `make test` hands whole modules to its pytest-xdist processes (loadfile)
# in collection order (--no-loadscope-reorder: xdist's own order, by number of tests, put the modules
# of one or two long tests last, and the run ended waiting on them). Test-seconds per module from a full
# run with 3 processes, rounded; a module not listed counts as 5. Stale numbers cost only balance.
MODULE_SECONDS = {
    "test_resume": 200, "test_layout": 205, "test_ray": 165, "test_storage_faults": 145, "test_api": 140,
    "test_budgets": 125, "test_hydra_plugin": 115, "test_bad_input": 100, "test_benchmarks": 100,
    "test_trial_mlflow": 90, "test_multi_objective": 90, "test_early_stop": 85, "test_bench_peers": 80,
    "test_wandb": 75, "test_chaos": 75, "test_view": 75, "test_command": 65, "test_same_name_race": 65,
    "test_export": 60, "test_cli": 55, "test_faults": 55, "test_tracking_down": 45, "test_conditional": 40,
    "test_gpus": 35, "test_bench_sample_efficiency": 30, "test_logs_bounded": 30, "test_configure": 25,
    "test_report_browser": 15, "test_report": 15, "test_interrupt": 10, "test_mlflow_store": 10, "test_sql_runs": 10,
    "test_spec": 10,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.stem, 5))  # stable: a module's own order kept


@pytest.fixture(scope="session")
def mlflow_server_at(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` process on a loopback port, stopped after the session: its URL, and
    its SQLite store's path (for checks of more runs than REST reads quickly)."""
    d = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = start_mlflow_server(d, port)
    yield f"http://127.0.0.1:{port}", d / "server.db"
    stop_mlflow_server(proc)


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_at: tuple[str, Path]) -> str:
    """The URL of the session's real `mlflow server`."""
    return mlflow_server_at[0]


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
    proc = start_ray(["--head", f"--port={port}", "--num-cpus=2", "--num-gpus=2", f"--temp-dir={ray_tmp}",
                      "--include-dashboard=false"],
                     d / "ray.log")
    yield f"127.0.0.1:{port}"
    stop_process_group(proc)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if saved_auth is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = saved_auth
