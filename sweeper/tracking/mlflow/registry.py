"""Registering the best trial's model in MLflow's Model Registry, under an alias (not the deprecated stages).

A trial logs its model itself (`mlflow.<flavor>.log_model` inside its run, see trial_run.py); this
finds that model (an MLflow 3 logged model of the run, or an MLmodel folder among the run's
artifacts as MLflow 2 wrote them) and registers it.
"""

from __future__ import annotations

from typing import Any

from ...errors import SweepError
from ...redact import mask
from .lookup import quiet_mlflow


def _model_uri(client: Any, run: Any) -> str | None:
    run_id = run.info.run_id
    found = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")
    if found:
        latest = max(found, key=lambda m: m.creation_timestamp or 0)
        return f"models:/{latest.model_id}"
    for a in client.list_artifacts(run_id):
        if a.is_dir and any(f.path.endswith("/MLmodel") for f in client.list_artifacts(run_id, a.path)):
            return f"runs:/{run_id}/{a.path}"
    return None


def register(uri: str, run_id: str, number: int, model_name: str, alias: str) -> dict[str, Any]:
    """Register the model trial `number` logged in `run_id` as a new version of `model_name`, and
    point `alias` at it. Raises SweepError when the run logged no model."""
    quiet_mlflow()
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        run = client.get_run(run_id)
        source = _model_uri(client, run)
        if source is None:
            raise SweepError(f"the best trial (trial {number}, run {run_id}) logged no model: log one inside the trial "
                             "(for example mlflow.pyfunc.log_model or mlflow.sklearn.log_model) to register it")
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        version = mlflow.register_model(source, model_name)
        client.set_registered_model_alias(model_name, alias, version.version)
    except MlflowException as e:
        raise SweepError(f"registering {model_name!r} in MLflow at {mask(uri)} failed: "
                         f"{' '.join(str(e.message).split())[:300]}") from None
    return {"model": model_name, "version": int(version.version), "alias": alias, "source": source, "run_id": run_id}
