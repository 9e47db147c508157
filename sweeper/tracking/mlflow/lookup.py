"""Where a sweep's MLflow runs are, and finding one: what the CLI and the API ask of MLflow."""

from __future__ import annotations

import logging
import os

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
    warnings.filterwarnings("ignore", message=".*noload.*")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


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
