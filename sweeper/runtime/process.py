"""Child processes that die with their parent, and that take Ctrl-C as they should."""

from __future__ import annotations

import ctypes
import signal


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
