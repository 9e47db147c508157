"""Where a sweep's MLflow runs are, and finding one: what the CLI and the API ask of MLflow."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from ...redact import mask


def tracking_uri(spec_uri: str | None, workdir: str) -> str:
    """The spec's URI, else MLFLOW_TRACKING_URI, else a SQLite store in the working directory."""
    return spec_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.join(workdir, 'mlflow.db')}"


def ui_hint(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"open {mask(uri)}"
    return f"mlflow ui --backend-store-uri {mask(uri)}"


def quiet_mlflow() -> None:
    """MLflow logs its DB migrations at INFO and SQLAlchemy warns about `noload`: neither helps a user."""
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # an unreachable server should cost seconds, not MLflow's default minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    # against a server, MLflow prints "View run trial-N at: <url>" for every run it ends, on our
    # terminal, and fetches the run again to do it: one request more per trial
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    warnings.filterwarnings("ignore", message=".*noload.*")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # a failed write (a full store) is logged there with its whole traceback; the writer says it in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


def child_run_id(uri: str, parent_run_id: str, number: int) -> str | None:
    """A trial's child run under the sweep's parent run (a finished one if there are several)."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.`trial.number` = '{number}'",
                              max_results=10)
    finished = [r for r in runs if r.info.status == "FINISHED"] or runs
    return finished[0].info.run_id if finished else None


def store_missing(uri: str) -> str | None:
    """Why the local store `uri` cannot hold runs (its file is absent), else None: asking MLflow
    about an absent SQLite store would create an empty one."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):].split("?", 1)[0]
        if path and path != ":memory:" and not os.path.exists(path):
            return f"no MLflow store at {mask(uri)}"
    return None


def runs_under(client: Any, experiment_id: str, parent_run_id: str) -> Iterator[Any]:
    """Every run nested under `parent_run_id` (the sweep's trial runs), page by page."""
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                  max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def child_run_ids(uri: str, parent_run_id: str) -> dict[int, str]:
    """Every trial's child run under the sweep's parent run, trial number -> run id, in one search
    (paged) of the experiment; a finished run wins where a trial has several."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    best: dict[int, tuple[bool, int, str]] = {}
    for r in runs_under(client, experiment_id, parent_run_id):
        number = r.data.tags.get("trial.number")
        if number is None or not number.lstrip("-").isdigit():
            continue
        key = (r.info.status == "FINISHED", r.info.start_time or 0, r.info.run_id)
        if int(number) not in best or key > best[int(number)]:
            best[int(number)] = key
    return {n: k[2] for n, k in best.items()}


def experiment_of(uri: str, run_id: str) -> str:
    """The experiment id that run `run_id` belongs to."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    return str(MlflowClient(tracking_uri=uri).get_run(run_id).info.experiment_id)


UI_PORT = 5000  # `sweep ui`'s default port


def sweep_command() -> str:
    """`sweep` as a fresh shell runs it: its full path when it lies beside this Python (a venv
    that may not be on PATH), else the bare name."""
    import shlex
    import sys

    exe = os.path.join(os.path.dirname(sys.executable), "sweep")
    return shlex.quote(exe) if os.access(exe, os.X_OK) else "sweep"


def run_url(base_url: str, experiment_id: str, run_id: str) -> str:
    """The page of one run in MLflow's UI at `base_url`, in its model-training view.

    MLflow 3's UI (a hash router) shows GenAI pages unless the route's query says
    `workflowType=machine_learning` (or the browser remembers that choice); the query belongs
    after the `#/...` route, where the router reads it."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def unreachable(uri: str, timeout: float = 3.0) -> str | None:
    """Why the MLflow server at the http(s) `uri` cannot answer (nothing listens, no such host),
    found with one TCP connection and no MLflow import; None if it may answer (or `uri` is not a
    server, or a proxy stands between: then only MLflow itself can tell)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if any(os.environ.get(v) for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except (OSError, ValueError) as e:
        return getattr(e, "strerror", None) or str(e) or type(e).__name__
