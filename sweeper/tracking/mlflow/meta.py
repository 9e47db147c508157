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
    """The installed distributions as `name==version` lines (what `pip freeze` lists, without running pip)."""
    from importlib.metadata import distributions

    seen = {}
    for d in distributions():
        name = d.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={d.version}"
    return "\n".join(sorted(seen.values(), key=str.lower)) + "\n"
