"""Errors are exceptions with a precise one-line message until the edge: every user-facing
failure is a SweepError whose `str()` is that line.

The CLI is the only place that turns them into a message and an exit code, so the API can be used
from Python without `sys.exit` surprises.
"""

from __future__ import annotations


class SweepError(Exception):
    """A problem the user can fix; `str()` is the one line the CLI prints."""

    exit_code = 2


class SpecError(SweepError):
    """A bad sweep file or override: names the file, the key and what is allowed."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class SweepFailed(SweepError):
    """The sweep ran but ended badly (too many failed trials, no complete trial)."""

    exit_code = 1


class Interrupted(SweepError):
    """Ctrl-C or SIGTERM stopped the sweep; 130 is the shell's convention for SIGINT."""

    exit_code = 130


class StorageFault(SweepError):
    """The study's storage failed under the sweep (disk full, read-only, unreachable, deleted): the
    line says where, what is kept, and how to continue; 3 tells it from a failed sweep (1) or bad input (2)."""

    exit_code = 3
