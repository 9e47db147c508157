"""The parent run's requirements list is read once per set of installed distributions, then from the cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sweeper.tracking.mlflow import meta


def _dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_requirements_are_cached_until_a_distribution_folder_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "alpha", "1.0")
    monkeypatch.setattr(sys, "path", [str(site)])
    first = meta.requirements()
    assert first == "alpha==1.0\n" == meta._read_requirements()
    cached = list((tmp_path / "cache" / "sweeper").glob("requirements-*.txt"))
    assert len(cached) == 1 and cached[0].read_text() == first

    # a folder without distributions (a sweep's own, written as it runs) is not part of the key
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(sys, "path", [str(work), str(site)])
    (work / "mlflow.db").write_text("")
    assert meta.requirements() == first
    assert len(list((tmp_path / "cache" / "sweeper").glob("requirements-*.txt"))) == 1

    # an install changes the folder's listing, so its time, so the answer
    _dist(site, "beta", "2.0")
    os.utime(site, ns=(0, os.stat(site).st_mtime_ns + 1_000_000_000))
    assert meta.requirements() == "alpha==1.0\nbeta==2.0\n"


def test_without_a_writable_cache_the_list_is_read_each_time(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")  # the cache's parent is a file: no folder can be made under it
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "alpha", "1.0")
    monkeypatch.setattr(sys, "path", [str(site)])
    assert meta.requirements() == "alpha==1.0\n"
