"""Soak: one long sweep of trivial trials through `sweep launch` (default 20,000 trials, 8 workers,
random search, tracking on: MLflow on SQLite, as a user gets it with zero setup).

What a long sweep must not do is grow: the driver's memory, the time a trial costs. This samples the
driver's resident memory (and its writer's, the MLflow child process) every second, and reads the
study at the end: the time per trial over each tenth of the sweep (from the trials' completion
times), the study's and MLflow's store sizes, and the wait between the last trial and the exit.
Not part of `make test` (~15 min on 2 cores). The baseline of the ratio column is the first tenth
of the same run.
Usage: python benchmarks/soak.py [--trials 20000] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

OBJECTIVE = "def trivial(cfg):\n    return {'loss': float(cfg.x) ** 2}\n"
SWEEP = """
name: soak
objective: {metric: loss}
params: {x: "interval(-5.0, 5.0)"}
trial: {function: soak_objective:trivial}
search: {method: random}
seed: 3
"""


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().replace("\0", " ")
    except OSError:
        return ""


class Sampler(threading.Thread):
    """The driver's RSS, and its MLflow writer's, once a second, with the trials done by then."""

    def __init__(self, pid: int, db: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.db = pid, db
        self.samples: list[tuple[float, float, float, int]] = []  # (t, driver MB, writer MB, done)
        self.stop = threading.Event()

    def _done(self) -> int:
        import sqlite3

        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.2) as c:
                return c.execute("select count(*) from trials where state in ('COMPLETE','FAIL','PRUNED')").fetchone()[0]
        except sqlite3.Error:
            return -1

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(1.0):
            writer = [c for c in _children(self.pid) if "multiprocessing" in _cmdline(c) or "spawn_main" in _cmdline(c)]
            self.samples.append((time.monotonic() - t0, _rss_mb(self.pid), sum(map(_rss_mb, writer)), self._done()))


def _size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 2**20


def soak(trials: int, workers: int) -> dict[str, Any]:
    d = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        (d / "soak_objective.py").write_text(OBJECTIVE)
        (d / "sweep.yaml").write_text(SWEEP)
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        db = d / ".sweeps" / "sweeps.db"
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml", f"n_trials={trials}",
                                 f"workers={workers}"], cwd=d, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        sampler = Sampler(proc.pid, db)
        sampler.start()
        out, err = proc.communicate()
        wall = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"the soak sweep failed (exit {proc.returncode}): {err[-2000:]}")
        import optuna

        study = optuna.load_study(study_name="soak", storage=f"sqlite:///{db}")
        done = sorted(t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete)
        return {"trials": trials, "workers": workers, "wall": wall, "done": done, "samples": sampler.samples,
                "study_mb": _size_mb(db, db.with_name("sweeps.db-wal")),
                "mlflow_mb": _size_mb(d / "mlflow.db", d / "mlflow.db-wal"),
                "artifacts_mb": sum(f.stat().st_size for f in (d / "mlruns").rglob("*") if f.is_file()) / 2**20
                if (d / "mlruns").exists() else 0.0,
                "end_wait": wall - (done[-1] - done[0]).total_seconds() if done else float("nan")}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def report(r: dict[str, Any]) -> str:
    done, n = r["done"], len(r["done"])
    samples = [s for s in r["samples"] if s[1] > 0]  # not the moments after the driver exited
    tenth = max(1, n // 10)
    lines = [f"{r['trials']} trivial trials, {r['workers']} workers, random search, MLflow on SQLite: "
             f"{r['wall']:.0f} s in all, {r['end_wait']:.1f} s of it before the first trial and after the last. "
             f"Study {r['study_mb']:.1f} MB, MLflow store {r['mlflow_mb']:.1f} MB, artifacts {r['artifacts_mb']:.1f} MB.",
             "", "| trials | ms per trial | ratio to the first tenth | driver RSS (MB) | writer RSS (MB) |",
             "|---|---|---|---|---|"]
    base = None
    for i in range(0, n - tenth + 1, tenth):
        span = (done[i + tenth - 1] - done[i]).total_seconds() * 1000 / max(1, tenth - 1)
        base = base or span
        upto = i + tenth
        mem = [s for s in samples if 0 <= s[3] <= upto] or samples[:1]
        driver, writer = (mem[-1][1], mem[-1][2]) if mem else (0.0, 0.0)
        lines.append(f"| {i + 1}–{upto} | {span:.1f} | {span / base:.2f} | {driver:.0f} | {writer:.0f} |")
    first = next((s for s in samples if s[3] > 0), samples[0] if samples else (0, 0, 0, 0))
    peak = max((s[1] for s in samples), default=0.0)
    lines += ["", f"Driver RSS: {first[1]:.0f} MB after the first trial, {samples[-1][1] if samples else 0:.0f} MB "
              f"at the end, {peak:.0f} MB at most."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args(argv)
    text = report(soak(args.trials, args.workers))
    print(text)
    return text


if __name__ == "__main__":
    main()
