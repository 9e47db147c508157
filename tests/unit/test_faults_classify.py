"""The storage-fault classifier (state/faults.py) over real errors, each made by real sqlite3,
SQLAlchemy, Optuna or psycopg calls on real files and sockets: SQLite's page limit, the kernel's
file-size limit, a read-only open, a missing folder, a held lock, a file that is no database, a
deleted study, a refused connection. No message is written by hand; the classifier reads what
the database layers raise."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from fakes import sqlite_storage, sqlite_url

from sweeper.errors import SpecError, StorageFault, SweepError
from sweeper.state import faults


def raised(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except Exception as e:
        return e
    raise AssertionError("no error was raised")


def table(path: Path, wal: bool = True) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("create table if not exists t (x blob)")
    db.execute("insert into t values (zeroblob(10000))")
    return db


def new_study(storage: Any) -> int:
    from optuna.study import StudyDirection

    return storage.create_new_study([StudyDirection.MINIMIZE], "s")


def optuna_write(storage: Any, study_id: int | None = None) -> Callable[[], None]:
    """What the driver does: a study user attr through Optuna's storage (its own scoped session)."""
    study_id = new_study(storage) if study_id is None else study_id

    def write() -> None:
        storage.set_study_user_attr(study_id, "sweeper.agent.x", "y" * 200_000)

    return write


def engine_of(storage: Any) -> sqlalchemy.Engine:
    return getattr(storage, "_backend", storage).engine


# --- disk full -------------------------------------------------------------------------------------

def test_the_reported_traceback_a_full_study_behind_optunas_exceeding_max_length(tmp_path):
    """The user's report: Optuna's StorageInternalError ("e.g. exceeding max length") from
    SQLAlchemy's OperationalError from sqlite3's SQLITE_FULL, here from SQLite's page limit."""
    storage = sqlite_storage(tmp_path)
    write = optuna_write(storage)
    engine = engine_of(storage)

    @sqlalchemy.event.listens_for(engine, "connect")
    def cap(dbapi_connection: Any, _: Any) -> None:  # the database may not grow: as on a full disk
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()
    e = raised(write)
    assert type(e).__name__ == "StorageInternalError" and "exceeding max length" in str(e)
    f = faults.classify(e)
    assert f is not None and f.kind == faults.FULL
    assert faults.storage_fault(e) == "the study's disk is full (database or disk is full)"


def kernel_file_size_limit(path: Path, extra: int) -> BaseException:
    """A write past RLIMIT_FSIZE (the study's WAL may not grow beyond `extra` bytes): the kernel
    refuses it (EFBIG; Python ignores SIGXFSZ), as it refuses a write on a full disk."""
    db = table(path)
    limit = os.path.getsize(f"{path}-wal") + extra
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        return raised(lambda: db.execute("insert into t values (zeroblob(100000))"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        db.close()


def test_a_write_the_kernel_refuses_is_an_io_fault_and_the_file_tells_why(tmp_path):
    e = kernel_file_size_limit(tmp_path / "s.db", 0)
    assert isinstance(e, sqlite3.OperationalError) and e.sqlite_errorname.startswith("SQLITE_IOERR")
    f = faults.classify(e, faults.Watch(f"sqlite:///{tmp_path / 's.db'}"))
    # the file is writable and its disk has room: only "it failed to write" is true
    assert f is not None and f.kind == faults.IO and "disk I/O error" in f.detail


# --- read-only, unreachable, locked, damaged -----------------------------------------------------

def test_a_read_only_study(tmp_path):
    url = sqlite_url(tmp_path)
    path = tmp_path / "s.db"
    writable = sqlite_storage(tmp_path, "s.db")
    study_id = new_study(writable)
    engine_of(writable).dispose()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    e = raised(lambda: db.execute("create table u (x)"))
    assert faults.classify(e).kind == faults.READONLY
    from optuna.storages import RDBStorage

    ro = RDBStorage(f"sqlite:///file:{path}?mode=ro&uri=true", skip_compatibility_check=True)
    e = raised(optuna_write(ro, study_id))
    assert type(e).__name__ == "StorageInternalError"
    assert faults.storage_fault(e, faults.Watch(url)) == ("the study's storage is read-only "
                                                           "(attempt to write a readonly database)")


def test_an_immutable_file_read_only_to_root_too(tmp_path):
    """chattr +i: even root may not write; SQLite says only "disk I/O error", the file says why."""
    path = tmp_path / "s.db"
    db = table(path)
    wal = f"{path}-wal"
    if shutil.which("chattr") is None or os.system(f"chattr +i {path} {wal} 2>/dev/null") != 0:
        db.close()
        pytest.skip("chattr +i is not possible here (needs root on ext4/xfs)")
    try:
        e = raised(lambda: db.execute("insert into t values (zeroblob(100000))"))
        f = faults.classify(e, faults.Watch(f"sqlite:///{path}"))  # while the file is read-only
    finally:
        os.system(f"chattr -i {path} {wal}")
        db.close()
    assert isinstance(e, sqlite3.OperationalError) and e.sqlite_errorname.startswith("SQLITE_IOERR")
    assert f == faults.Fault(faults.READONLY, f"disk I/O error: {path}: Operation not permitted")


def test_a_study_whose_folder_cannot_be_opened(tmp_path):
    e = raised(lambda: sqlite3.connect(tmp_path / "gone" / "s.db").execute("select 1"))
    assert faults.classify(e).kind == faults.UNREACHABLE
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'gone' / 's.db'}")
    e = raised(lambda: engine.connect())
    assert isinstance(e, sqlalchemy.exc.OperationalError)
    assert faults.storage_fault(e) == "the study's storage is unreachable (unable to open database file)"


def test_a_study_another_process_keeps_locked(tmp_path):
    holder = table(tmp_path / "s.db")
    holder.execute("begin exclusive")
    other = sqlite3.connect(tmp_path / "s.db", timeout=0)
    e = raised(lambda: other.execute("insert into t values (1)"))
    holder.execute("rollback")
    assert faults.classify(e).kind == faults.BUSY


def test_a_file_that_is_no_database(tmp_path):
    (tmp_path / "s.db").write_bytes(b"not a database, " * 512)
    e = raised(lambda: sqlite3.connect(tmp_path / "s.db").execute("select * from t"))
    assert faults.classify(e).kind == faults.CORRUPT


# --- the study vanishes --------------------------------------------------------------------------

def test_a_deleted_study_is_seen_though_sqlite_writes_on(tmp_path):
    """SQLite goes on writing to a deleted file (lost at exit): the watch sees it go, and any
    error the storage raises after that is this fault."""
    url = sqlite_url(tmp_path)
    storage = sqlite_storage(tmp_path)
    write = optuna_write(storage)
    watch = faults.Watch(url)
    watch.check()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 's.db'}{suffix}").unlink(missing_ok=True)
    write()  # no error: the unlinked file takes it
    e = raised(watch.check)
    assert faults.storage_fault(e) == f"the study's database file vanished while the sweep ran ({tmp_path / 's.db'} was deleted)"
    # a new connection finds an empty database: "no such table" is no fault by itself, but is after the watch
    new = sqlite3.connect(tmp_path / "s.db")
    e = raised(lambda: new.execute("select * from trials"))
    assert faults.classify(e) is None
    assert faults.classify(e, watch).kind == faults.VANISHED


def test_a_study_deleted_with_its_folder(tmp_path):
    folder = tmp_path / ".sweeps"
    folder.mkdir()
    url = sqlite_url(folder)
    watch = faults.Watch(url)
    shutil.rmtree(folder)
    e = raised(lambda: sqlalchemy.create_engine(url).connect())
    f = faults.classify(e, watch)
    assert f is not None and f.kind == faults.VANISHED and f.detail.endswith("was deleted with its folder")
    line = faults.message(f, url, "demo", 7)
    assert line.startswith("the study's database file vanished while the sweep ran")
    assert "the study is gone with its 7 finished trials and cannot be resumed" in line


# --- PostgreSQL, client side ---------------------------------------------------------------------

def test_a_postgresql_server_that_refuses_the_connection():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"postgresql+psycopg://sweeper:s3cret@127.0.0.1:{port}/db"
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
    e = raised(lambda: engine.connect())
    f = faults.classify(e)
    assert f is not None and f.kind == faults.UNREACHABLE
    line = faults.message(f, url, "demo", 3)
    assert "s3cret" not in line and f"sweeper:***@127.0.0.1:{port}/db" in line
    assert line.endswith("its 3 finished trials are kept in the study: once it is reachable again, "
                         "continue with `sweep resume demo`")


# --- not storage faults --------------------------------------------------------------------------

def test_bugs_and_bad_input_are_no_storage_faults(tmp_path):
    db = table(tmp_path / "s.db")
    db.execute("create table u (k text primary key)")
    db.execute("insert into u values ('a')")
    assert faults.classify(raised(lambda: db.execute("insert into u values ('a')"))) is None  # IntegrityError
    assert faults.classify(raised(lambda: db.execute("select * from nowhere"))) is None
    assert faults.classify(raised(lambda: db.execute("selec 1"))) is None
    assert faults.classify(ValueError("bad hyperparameters")) is None
    assert faults.classify(SpecError("sweep.yaml", "n_trials", "must be positive")) is None
    # an OSError of the disk is one when it names its file (the line says which); a write's does not
    e = raised(lambda: open(tmp_path / "missing" / "f", "w"))
    assert isinstance(e, FileNotFoundError) and faults.classify(e) is None
    if os.path.exists("/dev/full"):
        e = raised(lambda: open("/dev/full", "wb", buffering=0).write(b"x"))
        assert isinstance(e, OSError) and e.errno == errno.ENOSPC and faults.classify(e) is None
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "f"))  # as os.mkdir raises it
    f = faults.classify(full)
    assert f == faults.Fault(faults.FULL, "No space left on device", str(tmp_path / "f"))
    assert faults.message(f, "sqlite:////d/s.db", "demo", 2) == (
        f"the disk is full (No space left on device) at {tmp_path / 'f'} (study: sqlite:////d/s.db): the sweep "
        "stopped; its 2 finished trials are kept in the study: once space is freed, continue with `sweep resume demo`")


def test_a_suppressed_context_is_not_read():
    """`raise SweepError(...) from None` replaced the error it handled: that one is not the reason."""
    def refuse() -> None:
        try:
            sqlite3.connect("/nonexistent-folder/s.db").execute("select 1")
        except sqlite3.Error:
            raise KeyError("replaced") from None

    assert faults.classify(raised(refuse)) is None


def test_the_line_and_its_exit_code():
    f = faults.Fault(faults.FULL, "database or disk is full")
    url = "sqlite:////data/.sweeps/sweeps.db"
    assert faults.message(f, url, "demo", 13) == (
        "the study's disk is full (database or disk is full) at sqlite:////data/.sweeps/sweeps.db: the sweep "
        "stopped; its 13 finished trials are kept in the study: once space is freed, continue with "
        "`sweep resume demo`")
    assert "no trial had finished yet" in faults.message(f, url, "demo", 0)
    assert "1 finished trial is kept" in faults.message(f, url, "demo", 1)
    assert "run the same `sweep launch` again" in faults.message(f, url, "demo", None, exists=False)
    assert issubclass(StorageFault, SweepError) and StorageFault.exit_code == 3
    assert faults.sqlite_path("sqlite:///rel/s.db") == os.path.abspath("rel/s.db")
    assert faults.sqlite_path("sqlite:////abs/s.db") == "/abs/s.db"
    assert faults.sqlite_path("sqlite:///file:/abs/s.db?mode=ro&uri=true") == "/abs/s.db"
    assert faults.sqlite_path("sqlite://") is None and faults.sqlite_path("postgresql://h/db") is None
