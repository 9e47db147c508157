"""The CLI's own promises: fast start-up without heavy imports, readable listings."""

from __future__ import annotations

import subprocess
import sys

from helpers import run_cli, write


def test_help_imports_neither_mlflow_nor_ray_nor_torch():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom sweeper.cli import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output\n"
            "for cmd in ('launch', 'resume', 'ls', 'status', 'best'):\n    assert cmd in r.output, cmd\n"
            "heavy = [m for m in ('mlflow', 'ray', 'torch', 'optuna', 'sqlalchemy') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_sweep_lists_known_names(workdir):
    write(workdir / "sweep.yaml", """
name: known
objective: {metric: loss}
params: {x: "choice(1.0, 2.0)"}
search: {method: grid}
trial: {function: objectives:trivial}
""")
    run_cli(["launch", "sweep.yaml"], workdir, check=True)
    for cmd in (["status", "nope"], ["best", "nope"], ["resume", "nope"]):
        p = run_cli(cmd, workdir)
        assert p.returncode == 2 and p.stderr.strip() == "error: no sweep named 'nope' in this storage (known: known)"


def test_unreachable_storage_is_one_line_and_creates_nothing(workdir):
    p = run_cli(["ls", "--storage", "sqlite:////nonexistent/dir/x.db"], workdir)
    assert p.returncode == 2 and p.stderr.startswith("error: storage:") and "\n" not in p.stderr.strip()
    p = run_cli(["ls", "--storage", "postgresql+psycopg2://bob:hunter2@127.0.0.1:1/db"], workdir)
    assert p.returncode == 2 and "hunter2" not in p.stderr and "bob:***@" in p.stderr
    assert not (workdir / ".sweeps").exists()


def test_cmaes_says_once_at_launch_that_it_samples_choices_at_random(workdir):
    write(workdir / "sweep.yaml", """
name: cma
objective: {metric: loss}
params: {x: "interval(0, 1)", c: "choice(a, b)", d: "choice(1, 2)"}
search: {method: cmaes}
trial: {function: objectives:trivial}
n_trials: 4
workers: 1
""")
    p = run_cli(["launch", "sweep.yaml"], workdir, check=True)
    out = p.stdout + p.stderr
    assert out.count("warning: sweep.yaml: search: cmaes samples the categorical parameters c, d at random") == 1
    assert "sampled independently" not in out  # Optuna's own warning, once per trial and parameter, is off
    write(workdir / "all.yaml", """
name: cma-all
objective: {metric: loss}
params: {c: "choice(a, b)", x: 0.5}
search: {method: cmaes}
trial: {function: objectives:trivial}
n_trials: 2
""")
    p = run_cli(["launch", "all.yaml"], workdir, check=True)
    assert "every parameter here is categorical (c): this sweep is random search" in p.stdout + p.stderr
