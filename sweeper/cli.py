"""The `sweep` command: parses argv and calls the API. Imports nothing heavy at start-up."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .errors import SpecError, SweepError

if TYPE_CHECKING:
    from .driver.loop import ProgressView
from .ui.tables import column, number, table

STORAGE_HELP = "SQLAlchemy URL of the sweep storage [default: sqlite:///.sweeps/sweeps.db in this directory]"


def _nonempty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option given as '' is a mistake (an unset variable in a script), not "use the default"."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty: give a value or leave the option out", ctx=ctx, param=param)
    return value


_storage_option = click.option("--storage", help=STORAGE_HELP, callback=_nonempty)


def _storage(url: str | None) -> str:
    from .config.load import default_storage

    return url or default_storage(os.getcwd())


def _progress(name: str, metric: str, goal: str | None = None) -> ProgressView:
    from .ui.progress import make

    return make(name, metric, goal=goal)


def _json(data: Any) -> str:
    """`data` as strict JSON: a non-finite float (inf, nan) becomes null."""
    import json
    import math

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(data), allow_nan=False)


def _fail(e: SweepError) -> None:
    from .redact import mask

    click.echo(f"error: {mask(str(e))}", err=True)
    sys.exit(e.exit_code)


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's usage errors as one line too (Click prints four: usage, hint, blank, error)."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as e:
            ctx = getattr(e, "ctx", None)
            where = ctx.command_path if ctx is not None else "sweep"
            click.echo(f"error: {where}: {e.format_message()} (see {where} --help)", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

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
@_storage_option
@click.option("--dry-run", is_flag=True, help="Print the resolved sweep, its space and grid size; run nothing.")
@click.option("--resume", is_flag=True, help="Continue the sweep if one of this name exists.")
def launch(file: str, overrides: tuple[str, ...], storage: str | None, dry_run: bool, resume: bool) -> None:
    """Run the sweep in FILE; OVERRIDES are Hydra-style key=value (n_trials=40 search=random 'params.lr=...')."""
    from . import api

    spec = api.load(file, list(overrides), storage=storage)
    if spec.definition.get("_dialect"):  # another door than sweeper's own: say which, first
        click.echo(_dialect_line(spec.definition, file))
    if dry_run:
        click.echo(api.describe(spec))
        return
    api.run(spec, resume=resume, progress=_progress(spec.name, spec.metrics[0], spec.objectives[0].goal), echo=click.echo)


def _dialect_line(definition: dict, file: str) -> str:
    """The first line of a launch: which dialect read the file, and what it noted while translating."""
    dialect = definition["_dialect"]
    what = {"wandb": "a W&B sweep file"}.get(dialect, f"a {dialect} file")
    notes = "; ".join(definition.get("_notes") or [])
    return f"{file}: read as {what} (dialect {dialect})" + (f"; {notes}" if notes else "")


@main.command()
@click.argument("name")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@_storage_option
def resume(name: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Continue sweep NAME from its storage (no YAML needed); budget overrides such as n_trials=100 extend it."""
    _resume(name, storage, overrides)


def _resume(name: str, storage: str | None, overrides: tuple[str, ...]) -> None:
    from . import api

    spec, _, _ = api.stored(name, _storage(storage), list(overrides))
    api.run(spec, resume=True, progress=_progress(spec.name, spec.metrics[0], spec.objectives[0].goal), echo=click.echo)


@main.command()
@click.argument("name")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@_storage_option
def agent(name: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Join sweep NAME from another process or host sharing its storage (workers=N sizes this agent).

    Every agent asks trials from the same study: n_trials holds as a total and no grid point runs twice."""
    _resume(name, storage, overrides)


@main.command()
@click.argument("name")
@_storage_option
def sync(name: str, storage: str | None) -> None:
    """Rebuild MLflow's view of sweep NAME from its study (after MLflow was down or a crash)."""
    from . import api

    click.echo(api.sync(name, _storage(storage)))


@main.command("ls")
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print the sweeps as a JSON list of objects.")
def ls_(storage: str | None, as_json: bool) -> None:
    """List the sweeps in the storage with their state and progress."""
    from . import query

    sweeps = query.sweeps(_storage(storage))
    if as_json:
        click.echo(_json(sweeps))
        return
    if not sweeps:
        click.echo("no sweeps in this storage")
        return
    rows = [(s["name"], s["state"], f"{s['done']}/{number(s['n_trials'])}", str(s["running"]), str(s["failed"]),
             number(s["best_value"])) for s in sweeps]
    head = ("NAME", "STATE", "DONE", "RUNNING", "FAILED", "BEST")
    if any(s["budget"] for s in sweeps):  # spent/total of each budget, for the sweeps that have one
        rows = [(*r, ", ".join(f"{k} {v}" for k, v in s["budget"].items())) for r, s in zip(rows, sweeps, strict=True)]
        head = (*head, "BUDGET")
    table(head, rows, click.echo, right=(2, 3, 4, 5))


@main.command()
@click.argument("name")
@_storage_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the same as one JSON object: the counts, `metrics` and `trials` "
                   "({number, state, values, best, last_step, duration_s, params, error}).")
def status(name: str, storage: str | None, as_json: bool) -> None:
    """Show the trials of sweep NAME: state, value (* marks the best), last step reached, duration, params."""
    from . import query

    s = query.status(name, _storage(storage))
    if as_json:
        click.echo(_json(s))
        return
    click.echo(f"{name}: {s['state']}, {s['complete']} complete, {s['pruned']} pruned, "
               f"{s['failed']} failed, {s['interrupted']} interrupted, {s['retried']} retried, "
               f"{s['running']} running "
               f"of n_trials={s['n_trials']}"
               + "".join(f", {k} {v}" for k, v in s["budget"].items()))
    params = list(dict.fromkeys(k for t in s["trials"] for k in t["params"]))
    trials = s["trials"]
    # each number column at one precision, so its decimal points line up
    values = [column([t["values"][m] for t in trials]) for m in s["metrics"]]
    shown = [column([t["params"].get(k) for t in trials], "") for k in params]
    rows = []
    for i, t in enumerate(trials):
        duration = "-" if t["duration_s"] is None else f"{t['duration_s']:.1f}"
        rows.append((str(t["number"]), t["state"], *(v[i] for v in values),
                     "*" if t["best"] else "", number(t["last_step"]), duration, *(p[i] for p in shown),
                     (str(t["error"] or "").strip().splitlines() or [""])[0][:80]))
    metrics, right = s["metrics"], {0}
    right |= {2 + i for i in range(len(metrics))} | {3 + len(metrics), 4 + len(metrics)}
    right |= {5 + len(metrics) + i for i, k in enumerate(params)
              if all(isinstance(t["params"].get(k), (int, float, type(None))) for t in s["trials"])}
    table(("TRIAL", "STATE", *metrics, "BEST", "LAST_STEP", "DURATION_S", *params, "ERROR"), rows, click.echo,
          right=right)


@main.command()
@click.argument("name")
@click.option("--format", "fmt", metavar="csv|json|parquet",
              help="The file format [default: from -o FILE's extension, else csv].")
@click.option("-o", "--output", metavar="FILE",
              help="Write FILE (whole or not at all) instead of standard output; parquet needs it.")
@_storage_option
def export(name: str, fmt: str | None, output: str | None, storage: str | None) -> None:
    """Write the trials table of sweep NAME: number, state, a column per objective metric and per param,
    duration_s, steps, datetime_start/complete, the MLflow run_id, error."""
    from . import query

    data, problems = query.export(name, _storage(storage), fmt, output)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if data is not None:
        click.echo(data, nl=False)


@main.command()
@click.argument("name")
@click.option("--port", default="5000", metavar="N", show_default=True, help="Port of the UI on 127.0.0.1.")
@_storage_option
def ui(name: str, port: str, storage: str | None) -> None:
    """Start MLflow's UI over sweep NAME's runs and print the URL of its parent run; Ctrl-C stops it.

    A sweep tracked on an MLflow server (http://...) starts nothing: the run's URL there is printed."""
    from . import ui_server
    from .errors import SpecError

    if not port.isdigit():
        raise SpecError("command line", "--port", f"{port!r} is not a port (allowed: 1-65535)")

    def ready(url: str) -> None:
        click.echo(url)
        sys.stdout.flush()
        if url.startswith(f"http://127.0.0.1:{int(port)}/"):
            click.echo("MLflow's UI is running: Ctrl-C stops it", err=True)

    ui_server.serve_ui(name, _storage(storage), int(port), ready)


@main.command()
@click.argument("name")
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print {name, trial, value, params, run_id} as JSON.")
@click.option("--register", "model_name", metavar="MODEL_NAME",
              help="Register the model the best trial logged in its run as a new version of MODEL_NAME.")
@click.option("--alias", default="best", show_default=True, callback=_nonempty, help="The alias --register points at the new version.")
def best(name: str, storage: str | None, as_json: bool, model_name: str | None, alias: str) -> None:
    """Show the best trial of sweep NAME and its MLflow run; --register puts its model in the Model Registry."""
    import json

    from . import api

    if model_name is not None:
        for value, flag in ((model_name, "--register"), (alias, "--alias")):
            if not value.strip():
                raise SpecError("command line", flag, "is empty: give a name")
        if alias.lower().startswith("v") and alias[1:].isdigit():
            raise SpecError("command line", "--alias", f"{alias!r} is reserved for version numbers (v1, v2, ...): choose another")
        reg = api.register_best(name, model_name, alias, _storage(storage))
        if as_json:
            click.echo(json.dumps(reg))
        else:
            click.echo(f"registered {reg['model']} version {reg['version']} (alias {reg['alias']!r}) "
                       f"from trial run {reg['run_id']}: models:/{reg['model']}@{reg['alias']}")
        return
    out = api.best(name, _storage(storage))
    problem = out.pop("problem")
    if problem:
        click.echo(f"warning: {problem}", err=True)
    if "front" in out:  # several objectives: the Pareto front, one line per trial
        if as_json:
            click.echo(json.dumps(out["front"]))
            return
        click.echo(f"Pareto front of {name}: {len(out['front'])} trials")
        for e in out["front"]:
            values = ", ".join(f"{k}={v:.6g}" for k, v in e["values"].items())
            params = ", ".join(f"{k}={v!r}" for k, v in e["params"].items())
            click.echo(f"  trial {e['trial']}: {values}  ({params})  run {e['run_id'] or '-'}")
        return
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"best of {name}: trial {out['trial']}, value {out['value']:.6g}, run {out['run_id'] or '-'}")
    for k, v in out["params"].items():
        click.echo(f"  {k} = {v!r}")


@main.command()
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The HTML file to write [default: NAME-report.html].")
@_storage_option
def report(name: str, output: str | None, storage: str | None) -> None:
    """Write sweep NAME's report: one self-contained HTML file (history, importances, parallel
    coordinates, slices, learning curves, timeline, Pareto front) that opens offline."""
    import shutil
    import tempfile

    from . import api

    path = os.path.abspath(output or f"{name}-report.html")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise SpecError("command line", "-o", f"folder {folder} does not exist (create it, or write into an existing one)")
    spec, _, st = api.stored(name, _storage(storage), [])
    with tempfile.TemporaryDirectory(dir=folder, prefix=".sweep-report-") as tmp:
        built = api.report(st, spec, tmp)
        shutil.move(str(built.html), path)
    click.echo(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


def run() -> None:
    """The `sweep` console script: `main`, in a process whose exit skips the collector's last pass.

    The interpreter's teardown after the last line costs 0.4 to 0.5 CPU-s of a 2-second `sweep status`
    (measured: 2.29 against 1.88 CPU-s, means of 5), most of it the cyclic collector walking every
    object that Optuna, SQLAlchemy, Hydra and MLflow made. Freezing them last of all, after every
    other exit hook (multiprocessing's joins, logging's flush, Ray's shutdown) ran, skips that walk;
    objects still go away by their reference counts, so files held by modules are closed as before.
    Only here, not in `main`: a caller that runs `main` in its own process keeps its collector."""
    import atexit
    import gc

    atexit.register(lambda: (gc.disable(), gc.freeze()))  # registered first, so it runs last
    main()


if __name__ == "__main__":
    run()
