"""Child processes that die with their parent, take Ctrl-C as they should, and leave `__main__` alone."""

from __future__ import annotations

import ctypes
import signal
import sys
from typing import Any


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so a killed driver leaves no orphans behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def child_setup() -> None:
    """`preexec_fn` of a command trial: the worker ignores SIGINT; the trial must not inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()


def start_without_main(proc: Any) -> None:
    """Start a spawned `multiprocessing.Process` without it re-running the caller's `__main__`.

    Spawn re-imports the parent's main script in the child (`__main__.__file__`, or its module
    by `__spec__`), so a user's script calling `sweeper.api.run` at top level, without an
    `if __name__ == "__main__":` guard, would run again inside our helper process. Our helpers'
    targets are importable functions of sweeper: hiding the main module while the child's
    preparation data is taken (in `start`) is all they need.
    """
    main = sys.modules.get("__main__")
    if main is None:
        proc.start()
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None  # multiprocessing reads `__spec__.name` or else `__file__`: neither is there
    try:
        proc.start()
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
