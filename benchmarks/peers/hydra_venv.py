"""The Hydra peer's own virtual environment, made on demand and reused while its pins are unchanged.

hydra-optuna-sweeper 1.3.0 pins optuna<3, which cannot share a venv with sweeper (optuna 5), so the
peer runs from `.venv-bench-hydra` at the repository root. Pins, and why:
- hydra-core 1.3.8 and omegaconf 2.3.1: unpinned, pip picks pre-releases that the sweeper crashes on;
- optuna 2.10.1 (the newest below 3) needs SQLAlchemy 1.4 for its SQLite study (under 2.x its
  storage fails an assertion), so SQLAlchemy 1.4.54 and alembic 1.13.3 (newer alembic needs 2.x);
- mlflow-skinny, not mlflow: the SQLite tracking store is all the peer needs, at half the size.
Usage: python benchmarks/peers/hydra_venv.py [--force]   (prints the venv's python and the seconds)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-bench-hydra"
APP = Path(__file__).resolve().parent / "hydra_app" / "app.py"
REQUIREMENTS = [
    "hydra-core==1.3.8",
    "omegaconf==2.3.1",
    "hydra-optuna-sweeper==1.3.0",
    "hydra-joblib-launcher==1.2.0",
    "joblib==1.6.0",
    "optuna==2.10.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "sqlalchemy==1.4.54",
    "alembic==1.13.3",
    "mlflow-skinny==3.17.2",
]
STAMP = ".bench-requirements"


def venv_python(venv: Path = VENV) -> Path:
    """Where the venv's interpreter is (it may not exist yet)."""
    return venv / "bin" / "python"


def is_ready(venv: Path = VENV) -> bool:
    """True when the venv exists, finished installing, and holds exactly today's pins."""
    stamp = venv / STAMP
    return venv_python(venv).exists() and stamp.exists() and stamp.read_text() == "\n".join(REQUIREMENTS)


def ensure_venv(venv: Path = VENV, force: bool = False) -> tuple[Path, float]:
    """Create the venv unless it is ready; returns its python and the seconds spent creating it (0 if reused).

    A file lock serialises concurrent callers (a test and a benchmark); the stamp is written last, so a
    half-made venv (killed install) is rebuilt from scratch rather than trusted.
    """
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(venv) and not force:
            return venv_python(venv), 0.0
        shutil.rmtree(venv, ignore_errors=True)
        t0 = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
        p = _install(venv, env)
        if p.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"creating {venv} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        (venv / STAMP).write_text("\n".join(REQUIREMENTS))
        return venv_python(venv), time.perf_counter() - t0


def _install(venv: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """REQUIREMENTS into `venv`: by the uv `make install` put beside this interpreter (~10 s), else by
    this interpreter's pip. No pip inside the venv: the installer outside it installs into it
    (`--python`). Byte-compiled on every core where PYTHONDONTWRITEBYTECODE is set, as on our
    machines (each timed run would compile its imports again; ~30 s on 2 cores); where it is not
    (`make test` unsets it), the first run writes the bytecode of what it imports."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv_python(venv))
    compile_all = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        p = subprocess.run([str(uv), "pip", "install", "-q", "--python", python,
                            *(["--compile-bytecode"] if compile_all else []), *REQUIREMENTS],
                           env=env, capture_output=True, text=True)
        if p.returncode == 0:
            return p
    p = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--disable-pip-version-check",
                        "--no-input", "--no-compile", *REQUIREMENTS], env=env, capture_output=True, text=True)
    if p.returncode == 0 and compile_all:
        site = [str(d) for d in (venv / "lib").glob("python3*/site-packages")]
        # not checked: a few packages ship files that do not compile (templates, py2 leftovers)
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", *site], env=env, capture_output=True)
    return p


def hydra_command(python: Path, n_trials: int, workers: int) -> list[str]:
    """The `-m` command line of the Hydra peer: basic launcher for one worker, joblib for more."""
    argv = [str(python), str(APP), "-m", f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={workers}"]
    if workers > 1:  # the sweeper asks `n_jobs` trials per batch; joblib runs a batch in worker processes
        argv += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"]
    return argv


if __name__ == "__main__":
    python, secs = ensure_venv(force="--force" in sys.argv[1:])
    print(f"{python} {secs:.1f}")
