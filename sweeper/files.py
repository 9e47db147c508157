"""Files several layers create the same careful way."""

from __future__ import annotations

import os


def place_new_file(tmp: str, path: str) -> None:
    """Move the finished side file `tmp` to `path` unless `path` exists: never replace a file that
    another process created meanwhile (two launches at once in a fresh folder would otherwise swap
    the first one's database for an empty one under it)."""
    try:
        os.link(tmp, path)  # fails if `path` exists: an atomic "create if absent"
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: nearly as good
        if not os.path.exists(path):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
