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

A store made here is in WAL mode (kept in the file), and the processes that write runs (the writer,
a worker opening its trial's run) commit to it with `synchronous=NORMAL`: no fsync per commit. That
was over half of the writer's time per run (an MLflow `log_batch` is three commits). What it risks
is the last commits before a power cut (never a corrupt file, in WAL mode), and MLflow is the view:
`sweep sync` rebuilds any run from the study, which keeps SQLite's full durability.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from typing import Any

from ...files import new_from_template


def _migrated(path: str) -> None:
    """A store at `path`, made by MLflow itself (its migrations)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)
    _wal(path)


def _wal(path: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()


_tuned = False
_engines: weakref.WeakSet[Any] = weakref.WeakSet()  # the engines this process wrote with (close_engines)


def commit_without_fsync() -> None:
    """In this process, SQLite connections to a WAL-mode database commit without an fsync.

    Only for processes that write the MLflow store: a SQLAlchemy hook on every engine of the
    process, so the driver (whose study keeps full durability) never calls it. A store in
    rollback-journal mode (made before stores were WAL) keeps SQLite's default, which is what is
    safe there.
    """
    global _tuned
    if _tuned:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(conn: object, _record: object) -> None:
        if isinstance(conn, sqlite3.Connection) and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            conn.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)
    event.listen(Engine, "engine_connect", lambda conn: _engines.add(conn.engine))
    _tuned = True


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
        _wal(copy)  # a template made before stores were WAL

    new_from_template(path, f"mlflow-{VERSION}-empty.db", _migrated, here)



def close_engines() -> None:
    """Close the pooled connections of every SQLAlchemy engine this process used, as the
    interpreter's teardown would: the last connection to a WAL-mode store folds the WAL into the
    main file and removes it. The writer ends its process without that teardown (writer.serve)."""
    for engine in list(_engines):
        engine.dispose()
