"""A trial's own stdout/stderr files: redirected into, and read back for a one-line error."""

from __future__ import annotations

import os
import sys
from typing import Any


class Redirect:
    """Point fds 1 and 2 at the trial's own files, so even C-level output and segfault dumps land there."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def __enter__(self) -> Redirect:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            f = os.open(os.path.join(self.out_dir, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(f, fd)
            os.close(f)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)


def tail(path: str, lines: int = 3, limit: int = 2000) -> str:
    """The last lines of a log as one line (a faulthandler dump: its headline and innermost frame)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    all_lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    fatal = [i for i, ln in enumerate(all_lines) if ln.startswith("Fatal Python error")]
    if fatal:  # a faulthandler dump: its headline and the innermost frame say the most
        i = fatal[-1]
        frame = next((ln for ln in all_lines[i:] if ln.startswith("File ")), "")
        return f"{all_lines[i]} {('at ' + frame) if frame else ''}".strip()[:limit]
    return " | ".join(all_lines[-lines:])[-limit:]
