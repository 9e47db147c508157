"""Import directions between sweeper's seams, read from the source with `ast` (imports inside
functions and under TYPE_CHECKING included), and the CLI's start-up staying light."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sweeper

PKG = Path(sweeper.__file__).resolve().parent
SRC = PKG.parent


def module_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    p = SRC.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, sweeper module imported) for every import in `source`, relative ones resolved;
    `from pkg import name` names the submodule `pkg.name` when there is one."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sweeper" or alias.name.startswith("sweeper."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):
                    raise ValueError(f"{module}:{node.lineno}: relative import beyond the top package")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not (target == "sweeper" or target.startswith("sweeper.")):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if is_module(sub) else target
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            arg = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(arg, str) and arg.startswith("sweeper"):
                yield node.lineno, arg


def all_imports() -> list[tuple[str, int, str]]:
    """(file relative to the repo, line, imported sweeper module) over every module of sweeper/."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        for line, target in imports_of(path.read_text(), module_of(path), path.name == "__init__.py"):
            out.append((str(path.relative_to(SRC)), line, target))
    return out


IMPORTS = all_imports()


def under(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == f"sweeper.{p}" or target.startswith(f"sweeper.{p}.") for p in prefixes)


def violations(files: str | tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Imports of `forbidden` seams by the files under `files` (paths like 'sweeper/runtime/')."""
    files = (files,) if isinstance(files, str) else files
    return [f"{f}:{line} imports {target}" for f, line, target in IMPORTS
            if f.startswith(files) and under(target, forbidden)]


# --- the checker itself -------------------------------------------------------------------------
def test_the_checker_sees_relative_absolute_and_function_level_imports() -> None:
    src = (
        "import os\n"
        "import sweeper.api\n"
        "from . import attrs\n"
        "from .store import counts\n"
        "from ..driver import loop\n"
        "from ..config.spec import SweepSpec\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..tracking.base import Tracker\n"
        "def f():\n"
        "    from .. import cli, errors\n"
        "    import importlib\n"
        "    importlib.import_module('sweeper.ui.progress')\n"
    )
    found = sorted(imports_of(src, "sweeper.state.coordination", is_package=False))
    assert found == [
        (2, "sweeper.api"), (3, "sweeper.state.attrs"), (4, "sweeper.state.store"),
        (5, "sweeper.driver.loop"), (6, "sweeper.config.spec"), (9, "sweeper.tracking.base"),
        (11, "sweeper.cli"), (11, "sweeper.errors"), (13, "sweeper.ui.progress"),
    ]
    # a package's own relative imports resolve from the package itself
    assert list(imports_of("from .base import Backend\n", "sweeper.backends", is_package=True)) == [
        (1, "sweeper.backends.base")]


def test_the_checker_reads_every_module_of_sweeper() -> None:
    files = {f for f, _, _ in IMPORTS}
    assert {"sweeper/driver/loop.py", "sweeper/api.py", "sweeper/cli.py", "sweeper/__init__.py"} <= files
    # the driver's function-level import of the store is seen
    assert any(f == "sweeper/driver/loop.py" and t == "sweeper.state.store" for f, _, t in IMPORTS)
    assert violations("sweeper/driver/", ("state",)) != []  # a rule that does not hold finds its imports


# --- the rules ----------------------------------------------------------------------------------
def test_the_leaf_modules_import_only_errors_and_redact() -> None:
    leaves = ("sweeper/messages.py", "sweeper/errors.py", "sweeper/redact.py", "sweeper/reporting.py",
              "sweeper/files.py")
    found = [f"{f}:{line} imports {t}" for f, line, t in IMPORTS
             if f in leaves and t not in ("sweeper.errors", "sweeper.redact")]
    assert found == []


RULES = {
    "runtime": ("sweeper/runtime/", ("driver", "backends", "tracking", "state", "api", "cli", "ui", "search",
                                     "config.load")),
    "tracking": ("sweeper/tracking/", ("driver", "backends", "state", "api", "cli", "ui", "search")),
    "state": ("sweeper/state/", ("driver", "backends", "tracking", "api", "cli", "ui")),
    "backends": ("sweeper/backends/", ("driver", "tracking", "state", "api", "cli", "ui")),
    "driver": ("sweeper/driver/", ("api", "cli", "ui", "config.load", "config.dialects")),
}


@pytest.mark.parametrize("seam", list(RULES))
def test_each_seam_imports_only_downwards(seam: str) -> None:
    files, forbidden = RULES[seam]
    assert violations(files, forbidden) == [], f"{seam}/ must not import {', '.join(forbidden)}"


def test_tracking_imports_only_what_it_may_from_outside() -> None:
    allowed = ("tracking", "config.spec", "messages", "redact", "errors", "files", "runtime.process")
    found = [f"{f}:{line} imports {t}" for f, line, t in IMPORTS
             if f.startswith("sweeper/tracking/") and not under(t, allowed)]
    assert found == []


def test_only_the_cli_imports_the_cli() -> None:
    found = [f"{f}:{line}" for f, line, t in IMPORTS if under(t, ("cli",)) and f != "sweeper/cli.py"]
    assert found == []


def test_only_the_cli_and_the_package_import_the_api() -> None:
    importers = {f for f, _, t in IMPORTS if under(t, ("api",))}
    assert importers <= {"sweeper/cli.py", "sweeper/__init__.py", "sweeper/query.py", "sweeper/ui_server.py"}
    assert "sweeper/cli.py" in importers  # the rule is about something real
    # the API's siblings (what the CLI reads out of a sweep, and `sweep ui`) are the CLI's alone
    assert {f for f, _, t in IMPORTS if under(t, ("query", "ui_server"))} == {"sweeper/cli.py"}


def test_the_report_draws_from_a_study_alone() -> None:
    """viz/ takes an Optuna study and names; it knows no other part of sweeper, and only the API
    (a sweep's end, `sweep report`, `sweep sync`) calls it."""
    assert [f"{f}:{line} imports {t}" for f, line, t in IMPORTS
            if f.startswith("sweeper/viz/") and not under(t, ("viz",))] == []
    assert {f for f, _, t in IMPORTS if under(t, ("viz",)) and not f.startswith("sweeper/viz/")} == {"sweeper/api.py"}


def test_the_cli_starts_without_heavy_imports() -> None:
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "sweeper.cli", "--help"], cwd=SRC,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Usage:" in p.stdout
    imported = [line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
                if line.startswith("import time:") and line.count("|") == 2]
    assert {"sweeper", "click"} <= set(imported)  # the report was read (the cli itself runs as __main__)
    heavy = sorted({m for m in imported if m.split(".")[0] in ("optuna", "mlflow", "ray", "torch")})
    assert heavy == [], f"`sweep --help` imports {', '.join(heavy)}"
