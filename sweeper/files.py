"""Files several layers create the same careful way."""

from __future__ import annotations

import os
from collections.abc import Callable


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


def cache_dir() -> str:
    """sweeper's folder in the user's cache (`$XDG_CACHE_HOME/sweeper`, else `~/.cache/sweeper`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sweeper")


def new_from_template(path: str, name: str, make: Callable[[str], None],
                      fix: Callable[[str], None] | None = None) -> None:
    """Create the file `path`, unless it exists, as a copy of the cached template `name`.

    A database whose empty schema takes seconds to build (its library's migrations) but depends
    only on the library's version (`name` says which) is built once by `make(file)` in the cache
    and copied from then on; `fix(file)` adjusts a copy before it is placed. Both the template
    and the copy appear whole (side file, then `place_new_file`); without a writable cache,
    `make` builds `path` itself.
    """
    import shutil

    if os.path.exists(path):
        return
    template = os.path.join(cache_dir(), name)
    if not os.path.exists(template):
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            side = f"{template}.init-{os.getpid()}"
            make(side)
            place_new_file(side, template)
        except OSError:
            template = ""
    tmp = f"{path}.init-{os.getpid()}"
    if template:
        shutil.copyfile(template, tmp)
        if fix is not None:
            fix(tmp)
    else:
        make(tmp)
    place_new_file(tmp, path)
