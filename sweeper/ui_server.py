"""`sweep ui`: MLflow's UI over a sweep's runs, opened on its parent run.

It starts `mlflow ui` (the one installed next to this Python, so it works without an activated
venv) on loopback, waits until it answers, and prints the URL of the parent run in MLflow's
model-training view; SIGINT or SIGTERM stops its whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from .api import _storage_url, stored
from .errors import SpecError, SweepError
from .redact import mask
from .state import store as studies

Echo = Callable[[str], None]
_CLI = "command line"


def _quiet(_: str) -> None:
    pass


def _parent_run(name: str, storage: str | None) -> tuple[str, str]:
    """Sweep `name`'s tracking URI and parent run id, without asking MLflow; SweepError if there is
    no run yet or its local store is gone."""
    from .tracking.mlflow import tracking_uri
    from .tracking.mlflow.lookup import store_missing
    from .tracking.mlflow.tracker import PARENT_KEY

    spec, _, st = stored(name, _storage_url(storage), [])
    parent = studies.StudyMemo(st, "mlflow").get(PARENT_KEY)
    if not parent:
        raise SweepError(f"sweep {name!r} has no MLflow run yet: make its runs with `sweep sync {name}`")
    uri = tracking_uri(spec.tracking.uri, spec.workdir)
    missing = store_missing(uri)
    if missing:
        raise SweepError(f"{missing} (the sweep's runs were written there): `sweep sync {name}` rebuilds them")
    return uri, parent


def mlflow_run(name: str, storage: str | None = None) -> tuple[str, str, str]:
    """Where sweep `name`'s parent run is: (tracking URI, experiment id, run id); SweepError if
    there is none yet or MLflow does not answer."""
    from .tracking.mlflow.lookup import experiment_of, unreachable

    uri, parent = _parent_run(name, storage)
    down = unreachable(uri)
    if down:
        raise SweepError(f"MLflow at {mask(uri)} does not answer: {mask(down)[:200]}")
    try:
        return uri, experiment_of(uri, parent), parent
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise SweepError(f"MLflow at {mask(uri)} does not answer: {mask(first)[:200]}") from None


def _served_experiment(base: str, run_id: str, uri: str) -> str:
    """The experiment of `run_id`, asked of the UI server at `base` (its REST API), which also
    proves that the page will show the run."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/runs/get?run_id={run_id}", timeout=30) as r:
            return str(json.load(r)["run"]["info"]["experiment_id"])
    except urllib.error.HTTPError as e:
        raise SweepError(f"the sweep's parent run {run_id} is not in {mask(uri)} (HTTP {e.code}): "
                         "`sweep sync` rebuilds it") from None
    except (OSError, ValueError, KeyError) as e:
        raise SweepError(f"mlflow ui at {base} did not show run {run_id}: {str(e)[:200]}") from None


def serve_ui(name: str, storage: str | None = None, port: int = 5000, ready: Echo | None = None,
             timeout_s: float = 300.0) -> None:
    """MLflow's UI over sweep `name`'s runs: `mlflow ui` on 127.0.0.1:`port`, until SIGINT or
    SIGTERM stops it (and this returns). Once it answers, `ready` gets the URL of the sweep's parent
    run. A sweep tracked on a remote server starts nothing: `ready` gets that server's URL of the run."""
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request

    from .tracking.mlflow.lookup import run_url

    say = ready or _quiet
    if not 1 <= port <= 65535:
        raise SpecError(_CLI, "--port", f"{port} is not a port (allowed: 1-65535)")
    uri, run_id = _parent_run(name, storage)
    if uri.startswith(("http://", "https://")):
        say(mask(run_url(*mlflow_run(name, storage))))
        return
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise SpecError(_CLI, "--port", f"port {port} is in use on 127.0.0.1 (choose a free one, e.g. --port {port + 1})") from None
    exe = os.path.join(os.path.dirname(sys.executable), "mlflow")
    if not os.access(exe, os.X_OK):
        raise SweepError(f"the mlflow command is not installed next to {sys.executable}")
    base = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([exe, "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            # its job runner (GenAI judges, trace rollups) is 8 more processes a look at runs never uses
                            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ})

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread: the caller stops it
            pass
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                lines = [ln for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
                raise SweepError(f"mlflow ui exited ({proc.returncode}) before it answered: "
                                 f"{mask(lines[-1].strip()) if lines else 'no output'}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SweepError(f"mlflow ui did not answer on {base} within {timeout_s:g} s")
            time.sleep(0.1)
        say(run_url(base, _served_experiment(base, run_id, uri), run_id))
        code = proc.wait()
        raise SweepError(f"mlflow ui stopped by itself (exit {code})")
    except KeyboardInterrupt:
        return
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
        _stop_group(proc)
        log.close()


def _stop_group(proc: Any, grace: float = 10.0) -> None:
    """SIGTERM a child's process group (it runs in its own session), SIGKILL after `grace` s."""
    import subprocess

    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()
