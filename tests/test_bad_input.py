"""The bad-input corpus: every key of the schema and every CLI flag, given bad values (negative, zero,
wrong type, empty, huge, unicode, a path that does not exist). Each is one line on stderr that names
the key, exit status 2, and nothing created in the folder.

The schema cases are generated from `schema.KEYS` and `schema.GROUP_OPTIONS`: a key added later gets
its cases without anyone remembering to write them. The CLI runs in-process (Click's runner) on the
real loader, Hydra and storage code: bad input never gets as far as starting a process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_cli, write

from sweeper.cli import main
from sweeper.config import schema

SWEEP_FILE = """
name: s
objective: {metric: loss}
params: {x: "interval(0.0, 1.0)"}
trial: {function: objectives:trivial}
n_trials: 2
workers: 1
"""

#: values no key of a kind accepts, as they are written on the command line
BAD_BY_KIND: dict[str, list[str]] = {  # one of each: negative, wrong type, empty, huge, unicode
    "int": ["-1", "1.5", "abc", "''", "'３'", str(2**63)],
    "number": ["abc", ".nan", ".inf", "''"],
    "str": ["''", "' '", "[]"],
    "choice": ["sideways", "''", "[]"],
    "mapping": ["5", "[]"],
    "size": ["-1", "'10 parsecs'", "''"],
    "duration": ["0", "-1", "'90 minutes'", "1h-5m", "''"],
}


def _schema_cases() -> list[tuple[str, list[str]]]:
    """(key path, overrides) for every key and every bad value of its kind; a group option's keys
    are given with their option selected."""
    keyed: list[tuple[schema.Key, list[str]]] = [(k, []) for k in schema.KEYS]
    for group, options in schema.GROUP_OPTIONS.items():
        for option, keys in options.items():
            keyed += [(k, [f"{group}={option}"]) for k in keys]
    cases = []
    for key, select in keyed:
        values = list(BAD_BY_KIND.get(key.kind, []))
        if key.kind == "int" and key.low is not None and key.low > 0:
            values.append(str(int(key.low) - 1))  # zero where 1 is the least
        if key.kind == "int" and key.high is not None:
            values.append(str(key.high + 1))  # huge: one past the most
        if key.kind == "number" and key.low is not None:
            values.append(f"{key.low - 1:g}")  # negative where it must not be
            if not key.inclusive:
                values.append(f"{key.low:g}")  # zero where it must be more than zero
        cases += [(key.path, [*select, f"{key.path}={v}"]) for v in values]
    return cases


#: (argv after `sweep`, what the one line must contain): keys and flags beyond what kinds cover
CLI_CASES: list[tuple[list[str], str]] = [
    (["launch", "s.yaml", "name=naïve名"], "name"),
    (["launch", "s.yaml", "name=a/../b"], "name"),
    (["launch", "s.yaml", "trial.config=no/such.yaml"], "trial.config"),
    # `name=fresh`: sweep `s` exists here, and a launch refused for its name says only that
    (["launch", "s.yaml", "name=fresh", "trial.function=no_such_module:f"], "trial.function"),
    (["launch", "s.yaml", "name=fresh", "trial.function=objectives:no_such_function"], "trial.function"),
    (["launch", "s.yaml", "trial.function=objectives"], "trial.function"),
    (["launch", "s.yaml", "name=fresh", "search.configure=no_such_module:f"], "search.configure"),
    (["launch", "s.yaml", "name=fresh", "search.configure=objectives:no_such_function"], "search.configure"),
    (["launch", "s.yaml", "search.configure=objectives.trivial"], "search.configure"),
    (["launch", "s.yaml", "search=grid", "params.x=choice(1, 2)", "search.configure=objectives:trivial"],
     "search.configure"),
    (["launch", "s.yaml", "storage=naïve名"], "storage"),
    (["launch", "s.yaml", "storage=bogus://x"], "storage"),
    (["launch", "s.yaml", "search=5"], "search"),
    (["launch", "s.yaml", "search=[]"], "search"),
    (["launch", "s.yaml", "search=naïve"], "search"),
    (["launch", "s.yaml", "early_stop=[1]"], "early_stop"),
    (["launch", "s.yaml", "backend={}"], "backend"),
    (["launch", "s.yaml", "name=fresh", "backend=ray", "backend.address=no-such-host:abc"], "backend.address"),
    (["launch", "s.yaml", "params.x=interval(1.0, 0.0)"], "params.x"),
    (["launch", "s.yaml", "params.x=choice()"], "params.x"),
    (["launch", "s.yaml", "params.x=tag(log, interval(-1.0, 1.0))"], "params.x"),
    (["launch", "s.yaml", "params.x=range(0, 10, 0)"], "params.x"),
    (["launch", "s.yaml", "n_trials"], "n_trials"),
    (["launch", "s.yaml", "naïve=1"], "naïve"),
    (["launch", "s.yaml", "--bogus"], "--bogus"),
    (["launch", "no/such/sweep.yaml"], "no/such/sweep.yaml"),
    (["launch", "."], "FILE"),
    (["launch"], "FILE"),
    (["launch", "s.yaml", "--storage", ""], "--storage"),
    (["launch", "s.yaml", "--storage", "not a url"], "storage"),
    (["resume", "nosuch"], "nosuch"),
    (["resume", "s", "n_trials=-1"], "n_trials"),
    (["resume", "s", "seed=3"], "budget keys"),
    (["agent", "s", "workers=0"], "workers"),
    (["agent", "s", "workers=abc"], "workers"),
    (["sync", "nosuch"], "nosuch"),
    (["status"], "NAME"),
    (["status", "naïve"], "naïve"),
    (["status", "s", "--storage", "/no/such/x"], "storage"),
    (["ls", "--storage", "sqlite:////no/such/folder/x.db"], "storage"),
    (["ls", "--storage", " "], "--storage"),
    (["export", "s", "--format", "xml"], "--format"),
    (["export", "s", "-o", "/no/such/folder/x.csv"], "-o"),
    (["export", "s", "--format", "parquet"], "--format"),
    (["ui", "s", "--port", "-1"], "--port"),
    (["ui", "s", "--port", "abc"], "--port"),
    (["ui", "s", "--port", "99999"], "--port"),
    (["ui", "s", "--port", "0"], "--port"),
    (["best", "s", "--register", ""], "--register"),
    (["best", "s", "--alias", ""], "--alias"),
    (["report", "s", "-o", "/no/such/folder/r.html"], "-o"),
    (["report", "s", "-o", "."], "--output"),
    (["bogus"], "bogus"),
]


def _created(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - {"s.yaml", "objectives.py", "__pycache__"}


def _one_line(folder: Path, argv: list[str]) -> str:
    """Run `sweep ARGV` in-process; the one line it printed, having checked exit 2 and no new file."""
    before = _created(folder)
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    err = result.stderr.strip()
    assert result.exit_code == 2, f"{argv}: exit {result.exit_code}\n{result.stdout}\n{err}"
    assert len(err.splitlines()) == 1 and err.startswith("error: "), f"{argv}: {err}"
    assert "Traceback" not in err and not result.stdout.strip(), f"{argv}: {err}"
    assert _created(folder) == before, f"{argv} created {_created(folder) - before}"
    return err


def _study_state(folder: Path) -> tuple[object, ...]:
    import optuna

    st = optuna.load_study(study_name="s", storage=f"sqlite:///{folder}/.sweeps/sweeps.db")
    return tuple((t.number, t.state.name, t.values, t.params) for t in st.trials), st.user_attrs


@pytest.fixture
def project(workdir: Path) -> Path:
    write(workdir / "s.yaml", SWEEP_FILE)
    return workdir


def test_every_schema_key_refuses_bad_values_in_one_line(project):
    cases = _schema_cases()
    assert len(cases) > 120  # every key of every kind: a kind that lost its values would shrink this
    failures = []
    for path, overrides in cases:
        try:
            err = _one_line(project, ["launch", "s.yaml", "--dry-run", *overrides])
            # names the key and says what is allowed
            assert path in err and ("must be" in err or "allowed" in err), err
        except AssertionError as e:
            failures.append(f"{overrides}: {e}")
    assert not failures, f"{len(failures)} of {len(cases)}:\n" + "\n".join(failures)


def test_every_cli_flag_and_special_key_refuses_bad_values_in_one_line(project):
    # a finished sweep `s` for the commands that read one; the corpus must change nothing of it
    run_cli(["launch", "s.yaml"], project, check=True)
    stamp = _study_state(project)
    failures = []
    for argv, named in CLI_CASES:
        try:
            err = _one_line(project, argv)
            assert named in err, err
        except AssertionError as e:
            failures.append(f"{argv}: {e}")
    assert not failures, f"{len(failures)} of {len(CLI_CASES)}:\n" + "\n".join(failures)
    assert _study_state(project) == stamp
