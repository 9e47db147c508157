"""Storage faults: the study's database can no longer be written (or read) for a reason that is
not the user's input: a full disk, a read-only file, a lost server, a deleted file.

`classify` reads an exception's chain (Optuna's `StorageInternalError` → SQLAlchemy's error →
the driver's own sqlite3 or psycopg error, whose codes say what happened) into a `Fault`;
`storage_fault` gives its one-line reason. A `Watch` notices a SQLite study file deleted or
replaced while the sweep runs: SQLite itself does not (its open file lives on, unlinked, and
every write to it would be lost at exit). `message` is the line the user reads: what failed,
where, what is safe, and how to continue.

Nothing heavy is imported: the drivers' modules are looked up in `sys.modules`, where an error of
theirs has necessarily come from.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass

from ..redact import mask

FULL, READONLY, IO, UNREACHABLE, BUSY, RESOURCES, CORRUPT, VANISHED = (
    "full", "readonly", "io", "unreachable", "busy", "resources", "corrupt", "vanished")

#: what failed, by kind: of the study ("the study's ..."), or of a file the fault names ("the ...")
WHAT = {
    FULL: "disk is full",
    READONLY: "storage is read-only",
    IO: "storage failed to write",
    UNREACHABLE: "storage is unreachable",
    BUSY: "database stayed locked by another process",
    RESOURCES: "database server ran out of resources",
    CORRUPT: "database is damaged",
    VANISHED: "database file vanished while the sweep ran",
}
#: when `sweep resume` can go on, by kind
WHEN = {
    FULL: "once space is freed",
    READONLY: "once it is writable again",
    IO: "once the storage works again",
    UNREACHABLE: "once it is reachable again",
    BUSY: "once the other process lets go of it",
    RESOURCES: "once the server has room again",
    CORRUPT: "once the database file is repaired or restored",
}

# SQLite's primary result codes (https://sqlite.org/rescode.html); Python's sqlite3 gives the
# extended code in `sqlite_errorcode`, whose low byte is the primary one
_SQLITE = {13: FULL, 8: READONLY, 10: IO, 14: UNREACHABLE, 5: BUSY, 11: CORRUPT, 26: CORRUPT}
_SQLITE_READONLY_DBMOVED = 8 | (4 << 8)  # the database file was moved or deleted since it was opened
# the same, by the words of a driver that gives no code
_SQLITE_WORDS = [("database or disk is full", FULL), ("readonly database", READONLY), ("disk i/o error", IO),
                 ("unable to open database file", UNREACHABLE), ("database is locked", BUSY),
                 ("database disk image is malformed", CORRUPT),
                 ("file is not a database", CORRUPT)]
# PostgreSQL's SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html): exact, then by class
_SQLSTATE = {"53100": FULL, "25006": READONLY, "58030": IO, "53300": UNREACHABLE, "57P01": UNREACHABLE,
             "57P02": UNREACHABLE, "57P03": UNREACHABLE, "55P03": BUSY, "XX001": CORRUPT, "XX002": CORRUPT}
_SQLSTATE_CLASS = {"08": UNREACHABLE, "53": RESOURCES}
_OS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EROFS: READONLY, errno.EIO: IO}


@dataclass(frozen=True)
class Fault:
    kind: str  # one of WHAT's keys
    detail: str  # the database's (or the kernel's) own words, one line
    where: str | None = None  # a file the fault names, when it is not the study's storage itself

    @property
    def reason(self) -> str:
        """E.g. "the study's disk is full (database or disk is full)"."""
        what = f"the {WHAT[self.kind]}" if self.where else f"the study's {WHAT[self.kind]}"
        return f"{what} ({self.detail})" if self.detail else what


class StudyGone(Exception):
    """The study's SQLite file was deleted, or replaced by another file, while the sweep ran."""

    def __init__(self, path: str, how: str) -> None:
        self.path, self.how = path, how
        super().__init__(f"{path} {how}")


def sqlite_path(url: str | None) -> str | None:
    """The absolute path of a SQLite storage URL's file; None for a server or an in-memory database."""
    if not url or not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel.db, sqlite:////abs.db
    path = path.split("?", 1)[0]
    if path.startswith("file:"):
        path = path[5:]
    if not path or path == ":memory:":
        return None
    return os.path.abspath(path)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Watch:
    """Knows the study's SQLite file as it was when the sweep opened it; `check()` raises StudyGone
    once that file is deleted (its folder with it) or replaced. A server storage: nothing to watch."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.ident = _identity(self.path) if self.path else None

    def gone(self) -> str | None:
        """How the file went, or None while it is there."""
        if self.path is None or self.ident is None:
            return None
        now = _identity(self.path)
        if now == self.ident:
            return None
        if now is not None:
            return "was replaced by another file"
        return "was deleted" if os.path.isdir(os.path.dirname(self.path)) else "was deleted with its folder"

    def check(self) -> None:
        how = self.gone()
        if how is not None:
            assert self.path is not None
            raise StudyGone(self.path, how)


def _one_line(text: str, limit: int = 240) -> str:
    line = mask(" ".join(str(text).split()))
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " …"


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the errors it wraps (a SQLAlchemy error's `orig`), its causes and contexts."""
    out: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is seen for seen in out):
            continue
        out.append(e)
        todo += [getattr(e, "orig", None), e.__cause__, None if e.__suppress_context__ else e.__context__]
    return out


def _is(e: BaseException, module: str, name: str) -> bool:
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(e, cls)


def _from_database(e: BaseException) -> bool:
    """An error of the storage's layers: Optuna's storage, SQLAlchemy, sqlite3, psycopg."""
    return (_is(e, "sqlite3", "Error") or _is(e, "sqlalchemy.exc", "SQLAlchemyError")
            or _is(e, "optuna.exceptions", "StorageInternalError") or _is(e, "psycopg", "Error")
            or _is(e, "psycopg2", "Error"))


def _one(e: BaseException) -> Fault | None:
    if isinstance(e, StudyGone):
        return Fault(VANISHED, f"{e.path} {e.how}")
    if _is(e, "sqlite3", "Error"):
        code = getattr(e, "sqlite_errorcode", None)
        text = _one_line(str(e))
        if code == _SQLITE_READONLY_DBMOVED:
            return Fault(VANISHED, text)
        if isinstance(code, int) and code & 0xFF in _SQLITE:
            return Fault(_SQLITE[code & 0xFF], text)
        return next((Fault(kind, text) for words, kind in _SQLITE_WORDS if words in text.lower()), None)
    if _is(e, "psycopg", "Error") or _is(e, "psycopg2", "Error"):
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        text = _one_line(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        if state:
            kind = _SQLSTATE.get(state) or _SQLSTATE_CLASS.get(state[:2])
            return Fault(kind, text) if kind else None
        # no SQLSTATE: the client's own failure, i.e. the connection (refused, lost, closed)
        if _is(e, "psycopg", "OperationalError") or _is(e, "psycopg", "InterfaceError") or \
                _is(e, "psycopg2", "OperationalError") or _is(e, "psycopg2", "InterfaceError"):
            return Fault(UNREACHABLE, text)
        return None
    if isinstance(e, OSError) and e.errno in _OS and isinstance(e.filename, str):  # a file of ours, named
        return Fault(_OS[e.errno], _one_line(e.strerror or str(e)), e.filename)
    return None


def _diagnose(fault: Fault, path: str) -> Fault:
    """SQLite says "disk I/O error" for any failed write: the file itself tells read-only from full."""
    try:
        fd = os.open(path, os.O_RDWR)  # opens for writing, writes nothing
        os.close(fd)
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EPERM, errno.EACCES):
            return Fault(READONLY, f"{fault.detail}: {path}: {e.strerror}")
        return fault
    try:
        fs = os.statvfs(path)
    except OSError:
        return fault
    if fs.f_bavail * fs.f_frsize < 64 * 1024:
        return Fault(FULL, f"{fault.detail}: no space left on its device")
    return fault


def classify(exc: BaseException, watch: Watch | None = None) -> Fault | None:
    """The storage fault behind `exc`, or None when `exc` is something else (a bug, bad input)."""
    chain = _chain(exc)
    fault = next((f for e in chain if (f := _one(e)) is not None), None)
    if fault is None:
        # a connection SQLAlchemy saw drop, with a driver error of no known code
        dropped = next((e for e in chain if getattr(e, "connection_invalidated", False)), None)
        if dropped is not None:
            fault = Fault(UNREACHABLE, _one_line((str(getattr(dropped, "orig", None) or dropped).strip()
                                                  or type(dropped).__name__).splitlines()[0]))
    from_db = any(_from_database(e) for e in chain)
    if watch is not None and watch.path is not None and (from_db or fault is not None):
        how = watch.gone()
        if how is not None:  # whatever SQLite said (no such table, unable to open, I/O error), this is why
            return Fault(VANISHED, f"{watch.path} {how}")
        if fault is not None and fault.kind == IO and fault.where is None:
            return _diagnose(fault, watch.path)
    return fault


def storage_fault(exc: BaseException, watch: Watch | None = None) -> str | None:
    """The one-line reason of the storage fault behind `exc`; None when it is not one."""
    fault = classify(exc, watch)
    return fault.reason if fault is not None else None


def message(fault: Fault, url: str, name: str, finished: int | None, exists: bool = True) -> str:
    """The line the CLI prints: what failed and where, what is safe, and the command that continues.

    `finished`: the trials the study holds as finished (None: unknown); `exists`: whether the study
    was created before the fault (else the same `sweep launch` starts it again)."""
    where = mask(url) if fault.where is None else f"{fault.where} (study: {mask(url)})"
    head = f"{fault.reason} at {where}: the sweep stopped"
    trials = ("its finished trials" if finished is None else
              "its 1 finished trial" if finished == 1 else f"its {finished} finished trials")
    if fault.kind == VANISHED:
        return (f"{head}; the study is gone with {trials} and cannot be resumed "
                f"(`sweep launch` starts the sweep anew)")
    if not exists:
        return f"{head}; no study was written: {WHEN[fault.kind]}, run the same `sweep launch` again"
    if finished == 0:
        safe = "no trial had finished yet"
    elif fault.kind == CORRUPT:
        safe = f"{trials} may be damaged with it"
    else:
        safe = f"{trials} {'is' if finished == 1 else 'are'} kept in the study"
    return f"{head}; {safe}: {WHEN[fault.kind]}, continue with `sweep resume {name}`"
