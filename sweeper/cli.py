"""The `sweep` command: parses argv and calls the API. Imports nothing heavy at start-up."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .errors import SweepError

if TYPE_CHECKING:
    from .driver.loop import ProgressView
from .ui.tables import table

STORAGE_HELP = "SQLAlchemy URL of the sweep storage [default: sqlite:///.sweeps/sweeps.db in this directory]"


def _storage(url: str | None) -> str:
    from .config.load import default_storage

    return url or default_storage(os.getcwd())


def _progress(name: str, metric: str) -> ProgressView:
    from .ui.progress import make

    return make(name, metric)


def _fail(e: SweepError) -> None:
    from .redact import mask

    click.echo(f"error: {mask(str(e))}", err=True)
    sys.exit(e.exit_code)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepError as e:
            _fail(e)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweeper")
def main() -> None:
    """Hyperparameter sweeps from a Hydra YAML: Optuna search and early stopping, local workers,
    every trial a nested MLflow run, resumable after any interruption."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--storage", help=STORAGE_HELP)
@click.option("--dry-run", is_flag=True, help="Print the resolved sweep, its space and grid size; run nothing.")
@click.option("--resume", is_flag=True, help="Continue the sweep if one of this name exists.")
def launch(file: str, overrides: tuple[str, ...], storage: str | None, dry_run: bool, resume: bool) -> None:
    """Run the sweep in FILE; OVERRIDES are Hydra-style key=value (n_trials=40 search=random 'params.lr=...')."""
    from . import api

    spec = api.load(file, list(overrides), storage=storage)
    if dry_run:
        click.echo(api.describe(spec))
        return
    api.run(spec, resume=resume, progress=_progress(spec.name, spec.metrics[0]), echo=click.echo)


@main.command()
@click.argument("name")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--storage", help=STORAGE_HELP)
def resume(name: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Continue sweep NAME from its storage (no YAML needed); budget overrides such as n_trials=100 extend it."""
    _resume(name, storage, overrides)


def _resume(name: str, storage: str | None, overrides: tuple[str, ...]) -> None:
    from . import api

    spec, _, _ = api.stored(name, _storage(storage), list(overrides))
    api.run(spec, resume=True, progress=_progress(spec.name, spec.metrics[0]), echo=click.echo)


@main.command()
@click.argument("name")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--storage", help=STORAGE_HELP)
def agent(name: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Join sweep NAME from another process or host sharing its storage (workers=N sizes this agent).

    Every agent asks trials from the same study: n_trials holds as a total and no grid point runs twice."""
    _resume(name, storage, overrides)


@main.command()
@click.argument("name")
@click.option("--storage", help=STORAGE_HELP)
def sync(name: str, storage: str | None) -> None:
    """Rebuild MLflow's view of sweep NAME from its study (after MLflow was down or a crash)."""
    from . import api

    click.echo(api.sync(name, _storage(storage)))


@main.command("ls")
@click.option("--storage", help=STORAGE_HELP)
def ls_(storage: str | None) -> None:
    """List the sweeps in the storage with their state and progress."""
    import optuna

    from .state import store as studies

    st = studies.open_storage(_storage(storage))
    rows = []
    for s in st.get_all_studies():
        summ = studies.summary(optuna.load_study(study_name=s.study_name, storage=st))
        done = summ["complete"] + summ["pruned"] + summ["failed"]
        rows.append((summ["name"], summ["state"], f"{done}/{summ['n_trials']}", str(summ["running"]),
                     str(summ["failed"]), "-" if summ["best_value"] is None else f"{summ['best_value']:.6g}"))
    if not rows:
        click.echo("no sweeps in this storage")
        return
    table(("NAME", "STATE", "DONE", "RUNNING", "FAILED", "BEST"), rows, click.echo)


@main.command()
@click.argument("name")
@click.option("--storage", help=STORAGE_HELP)
def status(name: str, storage: str | None) -> None:
    """Show the trials of sweep NAME: state, value, last step reached, params."""
    from .state import attrs
    from .state import store as studies

    st = studies.load(studies.open_storage(_storage(storage)), name)
    summ = studies.summary(st)
    click.echo(f"{name}: {summ['state']}, {summ['complete']} complete, {summ['pruned']} pruned, "
               f"{summ['failed']} failed, {summ['interrupted']} interrupted, {summ['retried']} retried, "
               f"{summ['running']} running "
               f"of n_trials={summ['n_trials']}")
    rows = []
    for t in st.get_trials(deepcopy=False):
        state = t.state.name
        if state == "FAIL" and t.user_attrs.get(attrs.INTERRUPTED):
            state = "INTERRUPTED"
        last = max(t.intermediate_values) if t.intermediate_values else None
        note = str(t.user_attrs.get(attrs.ERROR, ""))[:80]
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        rows.append((str(t.number), state, "-" if t.value is None else f"{t.value:.6g}",
                     "-" if last is None else str(last), "yes" if state == "PRUNED" else "", params, note))
    table(("TRIAL", "STATE", "VALUE", "LAST_STEP", "PRUNED", "PARAMS", "ERROR"), rows, click.echo)


@main.command()
@click.argument("name")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print {name, trial, value, params, run_id} as JSON.")
def best(name: str, storage: str | None, as_json: bool) -> None:
    """Show the best trial of sweep NAME and its MLflow run."""
    import json

    from . import api

    out = api.best(name, _storage(storage))
    problem = out.pop("problem")
    if problem:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"best of {name}: trial {out['trial']}, value {out['value']:.6g}, run {out['run_id'] or '-'}")
    for k, v in out["params"].items():
        click.echo(f"  {k} = {v!r}")


if __name__ == "__main__":
    main()
