"""A new SQLite MLflow store in milliseconds: copied from a template migrated once per MLflow version.

MLflow builds a new SQLite store by running its ~50 schema migrations: 3 to 7 s on 2 cores, paid by
every sweep in a fresh folder (and, since trials that log to MLflow themselves need the store before
the first trial starts, paid before any trial runs). The schema of an empty store depends only on
MLflow's version, so the first sweep on a machine migrates a template in the user's cache folder
(`$XDG_CACHE_HOME/sweeper`, else `~/.cache/sweeper`), and every new store is a copy of it.

The one thing a fresh store holds besides its schema is MLflow's "Default" experiment, whose
artifact location MLflow sets to `mlruns/0` beside where the store was made: the copy gets the
location MLflow would have given it here. That is a write to MLflow's own table, the one private
detail of this module; tests/unit/test_mlflow_store.py checks it against the installed MLflow.
Either way the store appears whole: made in a side file, then put in place only if absent
(files.place_new_file), so a kill meanwhile leaves no half-made store.
"""

from __future__ import annotations

import os
import sqlite3

from ...files import new_from_template


def _migrated(path: str) -> None:
    """A store at `path`, made by MLflow itself (its migrations)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)


def create_sqlite_store(path: str) -> None:
    """Make a new, empty MLflow store at `path` unless one is there."""
    from mlflow.version import VERSION

    def here(copy: str) -> None:  # the Default experiment's artifacts beside the store, as MLflow would put them
        default_artifacts = os.path.join(os.path.dirname(os.path.abspath(path)), "mlruns", "0")
        db = sqlite3.connect(copy)
        try:
            with db:
                db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default_artifacts,))
        finally:
            db.close()

    new_from_template(path, f"mlflow-{VERSION}-empty.db", _migrated, here)
