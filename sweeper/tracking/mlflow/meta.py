"""What the sweep's parent run records about where it ran: versions, host, git commit."""

from __future__ import annotations

import platform
import socket
import subprocess


def git(workdir: str) -> dict[str, str]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return {}
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=workdir, capture_output=True, text=True, timeout=5)
        return {"git.commit": commit.stdout.strip(), "git.dirty": str(bool(dirty.stdout.strip())).lower()}
    except (OSError, subprocess.SubprocessError):
        return {}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python.version": platform.python_version(), "host": socket.gethostname()}
    for pkg in ("sweeper", "optuna", "mlflow", "hydra-core", "omegaconf", "ray", "torch"):
        try:
            out[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def requirements() -> str:
    """The installed distributions as `name==version` lines (what `pip freeze` lists, without running pip).

    Reading every distribution's metadata costs ~0.35 CPU-s, paid by every sweep's writer, so the
    answer is kept in the user's cache under a key of the folders that hold distributions and their
    modification times: installing or removing one changes its folder's listing, so its time.
    Other folders on the path (a sweep's own, written as it runs) are not in the key."""
    import hashlib
    import os
    import sys

    from ...files import cache_dir, place_new_file

    stamps = [sys.executable]
    for d in sys.path:
        try:
            if any(n.endswith((".dist-info", ".egg-info")) for n in os.listdir(d or ".")):
                stamps.append(f"{d}\0{os.stat(d or '.').st_mtime_ns}")
        except OSError:
            pass
    key = hashlib.sha256("\n".join(stamps).encode()).hexdigest()[:24]
    path = os.path.join(cache_dir(), f"requirements-{key}.txt")
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        pass
    text = _read_requirements()
    try:  # a side file, placed whole (files.place_new_file): a reader never sees half of it
        os.makedirs(cache_dir(), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        place_new_file(tmp, path)
    except OSError:  # no writable cache: read each time
        pass
    return text


def _read_requirements() -> str:
    from importlib.metadata import distributions

    seen = {}
    for d in distributions():
        name = d.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={d.version}"
    return "\n".join(sorted(seen.values(), key=str.lower)) + "\n"
