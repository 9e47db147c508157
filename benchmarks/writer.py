"""The MLflow writer's rate: child runs per second it writes, and the wait at the end of a sweep.

Part 1 (writer alone): the writer's loop in this process, fed the operations of N finished trivial
trials at once (the driver far ahead of MLflow, as in a fast sweep), against the embedded SQLite
store and against a real `mlflow server` (on a SQLite backend) it starts on loopback, with one
worker process (`--workers 1`, as the test suite runs it) and with MLflow's default (4 uvicorn
workers; `--server-workers` picks). Two paths: the
runs were opened at placement (the default: the writer's opener thread, or a baseline's workers,
created them; the loop logs the rest and ends them) and the loop creates them too (a trial MLflow
was down for when it was placed). Runs/s is N over the loop's time.

Part 2 (a whole sweep): `sweep launch` of 600 trivial trials, random search, workers=1, SQLite study,
MLflow on SQLite, as a user runs it. The trial rate is from the study's first start to its last
completion; the end-of-sweep wait is from the last completion to the command's exit, which is
what the writer still had to write (plus the report and the exit).
Part 3 (`--rates 4,8,16,32`): that sweep once per worker count, each trial sleeping `--trial-s`
(0.5 s), so trials come in faster with more workers (trivial trials on 2 cores stay at the driver's
~20-26/s whatever the workers), against the
SQLite store and a real server (the largest of `--server-workers`): trials/s against the rate the
writer finished their runs at (from the first trial's start until the store showed every run
FINISHED, polled every 0.1 s), and how long after the last trial that was; `--plot` draws both.
Usage: python benchmarks/writer.py [--trials 600] [--only writer|sweep] [--server-workers 1,4]
       python benchmarks/writer.py --rates 4,8,16,32 [--trial-s 0.5] [--trials 600] [--plot benchmarks/writer.png]
"""

from __future__ import annotations

import argparse
import inspect
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# SWEEPER_SRC: another checkout's sweeper to measure (the baseline, e.g. a `git worktree` of main)
ROOT = Path(os.environ.get("SWEEPER_SRC") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

OBJECTIVE = "def trivial(cfg):\n{wait}    return {{'loss': float(cfg.x) ** 2}}\n"  # wait: a sleep, or nothing
SWEEP = """
name: writer
objective: {metric: loss}
params: {x: "interval(-5.0, 5.0)", depth: "range(1, 9)", act: "choice(relu, tanh)"}
trial: {function: writer_objective:trivial}
search: {method: random}
seed: 3
"""


def _spec(d: Path) -> Any:
    from sweeper.config.load import load

    (d / "sweep.yaml").write_text(SWEEP + "n_trials: 10\n")
    return load(d / "sweep.yaml", workdir=str(d))


def _ops(n: int, layout: Any | None, uri: str) -> list[Any]:
    """What the driver queues for n finished trials: started (runs opened by workers when `layout`
    is given: created here, before the clock), ended, best so far; a new best every few trials."""
    from sweeper.tracking.mlflow import trial_run
    from sweeper.tracking.mlflow.ops import BestSoFar, RunOpened, TrialEnded, TrialStarted

    ops: list[Any] = []
    best = float("inf")
    t0 = int(time.time() * 1000)
    for i in range(n):
        params = {"x": 0.1 * i, "depth": i % 8 + 1, "act": "relu" if i % 2 else "tanh"}
        tags = {"trial.seed": str(i)}
        ops.append(TrialStarted(i, params, tags, t0 + i, hooked=layout is not None))
        if layout is not None and hasattr(layout, "create_trial_run"):
            # what the writer's opener thread does at placement, before the clock starts
            ops.append(RunOpened(i, layout.create_trial_run(i, tags, t0 + i, params)))
        elif layout is not None:  # a baseline whose workers opened the runs (trial_run.open_run)
            open_run = trial_run.open_run  # type: ignore[attr-defined]
            kw = {"params": params} if "params" in inspect.signature(open_run).parameters else {}
            run = open_run(i, uri=uri, experiment_id=layout.experiment_id, parent_run_id=layout.parent_id,
                           run_name=f"trial-{i}", tags=tags, start_ms=t0 + i, **kw)
            ops.append(RunOpened(i, run.ref))
        value = 1.0 / (1 + i) if i % 7 == 0 else 2.0
        improved = value < best
        best = min(best, value)
        ops.append(TrialEnded(i, "FINISHED", {"loss": value}, 0, {"trial.state": "COMPLETE"}, None, t0 + i + 1))
        ops.append(BestSoFar(i + 1, best, {"best.trial": str(i)} if improved else None, None,
                             params if improved else None, t0 + i + 1, number=i, trial_value=value,
                             best_number=i if improved else -1))
    return ops


def writer_rate(spec: Any, uri: str, n: int, hooked: bool) -> float:
    """Runs per second of the writer's loop fed n trials at once."""
    from sweeper.tracking.mlflow.layout import RunLayout
    from sweeper.tracking.mlflow.writer import Writer

    exp = f"bench-{time.time_ns()}"
    q: queue.Queue[Any] = queue.Queue()
    results: queue.Queue[Any] = queue.Queue()
    w = Writer(spec, uri, exp, None, f"uid-{time.time_ns()}", q, results)
    # the parent and experiment first (the writer makes them on start), then the runs workers open
    w.layout = RunLayout(spec, uri, exp, None, w.uid)
    for op in _ops(n, w.layout if hooked else None, uri):
        q.put(op)
    q.put(None)
    parent = w.layout.parent_id
    w.parent_run_id = parent
    t = time.perf_counter()
    w.loop()
    took = time.perf_counter() - t
    client = w.layout.client
    finished = [r for r in client.search_runs([w.layout.experiment_id], max_results=n + 10,
                                              filter_string=f"tags.mlflow.parentRunId = '{parent}'")
                if r.info.status == "FINISHED"]
    assert len(finished) == n, f"{len(finished)} of {n} runs FINISHED"
    return n / took


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(d: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{d}/server-{workers}.db",
                             "--default-artifact-root", str(d / "server-artifacts"), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            # its job runner (GenAI judges) is nothing sweeper uses: CPU at start, off as in the tests
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    import urllib.request

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("mlflow server exited") from None
            time.sleep(0.2)
    raise RuntimeError("mlflow server did not answer in 120 s")


def sweep_wait(d: Path, n: int, workers: int = 1, uri: str | None = None, trial_s: float = 0.0) -> dict[str, Any]:
    """`sweep launch` of n trivial trials (each sleeping `trial_s`): the trial rate, the wait from the
    last trial to the exit, and of that the part spent writing MLflow (from its "writing MLflow…"
    line to the next)."""
    import optuna

    wait = f"    import time\n    time.sleep({trial_s})\n" if trial_s else ""
    (d / "writer_objective.py").write_text(OBJECTIVE.format(wait=wait))
    tracking = f"tracking: {{uri: '{uri}'}}\n" if uri else ""
    (d / "sweep.yaml").write_text(SWEEP + f"n_trials: {n}\nworkers: {workers}\n" + tracking)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{d}"}
    proc = subprocess.Popen([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[tuple[float, str]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append((time.time(), line.strip()))
    proc.wait()
    ended = time.time()
    if proc.returncode != 0:
        raise RuntimeError("\n".join(text for _, text in seen[-20:]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="writer", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
    trials = study.get_trials(deepcopy=False)
    first = min(t.datetime_start for t in trials).timestamp()
    last = max(t.datetime_complete for t in trials).timestamp()
    marks = [(t, text) for t, text in seen if text.endswith("…")] + [(ended, "exit")]
    phases = {text.split("] ", 1)[-1].rstrip("…"): marks[i + 1][0] - t for i, (t, text) in enumerate(marks[:-1])}
    return {"trials_per_s": len(trials) / (last - first), "end_wait_s": ended - last,
            "mlflow_wait_s": phases.get("writing MLflow", 0.0), "phases": phases,
            "first_s": first, "last_s": last}


class RunsFinished:
    """Polls a store's SQLite file every 0.1 s for the sweep's FINISHED trial runs, in a thread: when
    the writer caught up with each trial (a run's own end_time is its trial's, not its write's)."""

    def __init__(self, db: Path) -> None:
        import threading

        self.db, self.seen, self.done = db, [(time.time(), 0)], threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        import sqlite3

        while not self.done.wait(0.1):
            try:
                con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
                try:
                    (k,) = con.execute("SELECT count(*) FROM runs WHERE name LIKE 'trial-%' AND status = 'FINISHED'"
                                       ).fetchone()
                finally:
                    con.close()
            except sqlite3.Error:  # not made yet, or busy
                continue
            if k != self.seen[-1][1]:
                self.seen.append((time.time(), k))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def all_by(self, n: int) -> float:
        """When the n-th run was seen FINISHED."""
        return next(t for t, k in self.seen if k >= n)


def rates(d: Path, n: int, workers: list[int], server_workers: int, trial_s: float) -> list[dict[str, Any]]:
    """Part 3: one sweep per worker count (faster trials come in faster), against the SQLite store and
    a real server: the trial rate, the rate the writer ended their runs at, and the wait after the last
    trial for MLflow (from the last trial's completion until every run was seen FINISHED in the store)."""
    out = []
    stores = ["SQLite store"] + ([f"mlflow server, --workers {server_workers}"] if server_workers else [])
    for store in stores:
        for w in workers:
            run = d / f"rate-{len(out)}"
            run.mkdir()
            server, uri, db = None, None, run / "mlflow.db"
            if not store.startswith("SQLite"):
                server, uri = _server(run, server_workers)
                db = run / f"server-{server_workers}.db"
            finished = RunsFinished(db)
            try:
                s = sweep_wait(run, n, w, uri, trial_s)
            finally:
                finished.stop()
                if server is not None:
                    server.terminate()
                    server.wait(30)
            caught_up = finished.all_by(n)
            out.append({"store": store, "workers": w, "trials_per_s": s["trials_per_s"],
                        "runs_per_s": n / (caught_up - s["first_s"]), "mlflow_after_last_s": max(0.0, caught_up - s["last_s"])})
            r = out[-1]
            print(f"| {store} | {w} | {r['trials_per_s']:.1f} | {r['runs_per_s']:.1f} | {r['mlflow_after_last_s']:.2f} |",
                  flush=True)
    return out


def plot(rows: list[dict[str, Any]], path: Path, trial_s: float) -> None:
    """Against the workers: the trials finished per second and the runs the writer finished per
    second (per store; the ideal, workers / trial_s, dotted), and MLflow's wait after the last trial."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    workers = sorted({r["workers"] for r in rows})
    a.plot(workers, [w / trial_s for w in workers], color="grey", linestyle=":", label=f"ideal (trials of {trial_s:g} s)")
    for store in dict.fromkeys(r["store"] for r in rows):
        mine = sorted((r for r in rows if r["store"] == store), key=lambda r: r["workers"])
        xs = [r["workers"] for r in mine]
        line, = a.plot(xs, [r["trials_per_s"] for r in mine], marker="o", label=f"{store}: trials/s")
        a.plot(xs, [r["runs_per_s"] for r in mine], marker="x", linestyle="--", color=line.get_color(),
               label=f"{store}: runs finished/s")
        b.plot(xs, [r["mlflow_after_last_s"] for r in mine], marker="o", label=store)
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(workers, [str(w) for w in workers])
        ax.set_xlabel("workers")
    a.set(ylabel="per second", title="Trials finished and MLflow runs finished")
    b.set(ylabel="seconds", title="MLflow's wait after the last trial")
    b.set_ylim(bottom=0)
    a.legend(fontsize=7)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=600)
    ap.add_argument("--only", choices=["writer", "sweep"], help="one part of the benchmark")
    ap.add_argument("--server-workers", default="1,4", help="the mlflow servers' worker counts (0: no server)")
    ap.add_argument("--rates", metavar="WORKERS", help="part 3 only: one sweep per worker count, e.g. 1,2,4,8")
    ap.add_argument("--plot", type=Path, help="with --rates: draw the figure to this PNG")
    ap.add_argument("--trial-s", type=float, default=0.5, help="with --rates: how long each trial sleeps")
    a = ap.parse_args()
    from sweeper.tracking.mlflow.lookup import quiet_mlflow

    quiet_mlflow()
    d = Path(tempfile.mkdtemp(prefix="sweeper-writer-"))
    server = None
    try:
        if a.rates:
            server_workers = max(int(w) for w in a.server_workers.split(","))
            print(f"`sweep launch` ({ROOT}), {a.trials} trials of {a.trial_s:g} s per sweep, random search")
            print("| store | workers | trials/s | runs ended/s | MLflow after the last trial (s) |")
            print("|---|---:|---:|---:|---:|")
            rows = rates(d, a.trials, [int(w) for w in a.rates.split(",")], server_workers, a.trial_s)
            if a.plot:
                plot(rows, a.plot, a.trial_s)
            return
        if a.only != "sweep":
            spec = _spec(d)
            print(f"MLflow writer ({ROOT}), {a.trials} finished trials queued at once")
            print("| store | runs opened at placement (runs/s) | writer creates them (runs/s) |")
            print("|---|---:|---:|")
            stores: list[tuple[str, str | int]] = [("SQLite store", f"sqlite:///{d}/mlflow.db")]
            stores += [(f"mlflow server, --workers {w}", int(w)) for w in a.server_workers.split(",") if int(w)]
            for name, where in stores:
                uri = where
                if isinstance(where, int):
                    server, uri = _server(d, where)
                hooked = writer_rate(spec, str(uri), a.trials, hooked=True)
                own = writer_rate(spec, str(uri), a.trials, hooked=False)
                print(f"| {name} | {hooked:.1f} | {own:.1f} |", flush=True)
                if server is not None:
                    server.terminate()
                    server.wait(30)
                    server = None
        if a.only != "writer":
            (d / "sweep").mkdir()
            s = sweep_wait(d / "sweep", a.trials)
            print(f"`sweep launch` ({ROOT}), {a.trials} trivial trials, workers=1: {s['trials_per_s']:.1f} trials/s; "
                  f"from the last trial to the exit {s['end_wait_s']:.2f} s, of which writing MLflow "
                  f"{s['mlflow_wait_s']:.2f} s ({', '.join(f'{k} {v:.2f} s' for k, v in s['phases'].items())})")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
