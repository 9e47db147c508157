"""Parallel speed-up: 24 trials of 1 s each, as sleep and as CPU work, at workers 1, 2 and 4.

Wall time is measured around `sweep launch` as a user waits for it (start-up, store creation and
tracking included), so the speed-up is against the workers=1 sweep of the same kind, and the
ideal is the number of workers (for CPU work also capped by the cores this machine has). A
CPU trial spins until its process has used 1 s of CPU, so oversubscribed cores show as lost speed
rather than as shorter trials. Usage: python benchmarks/parallel.py [--trials 24] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OBJECTIVE = '''
import time


def sleep(cfg):
    time.sleep(float(cfg.seconds))
    return {"loss": float(cfg.x) ** 2}


def cpu(cfg):
    end = time.process_time() + float(cfg.seconds)
    n = 0
    while time.process_time() < end:
        n += 1
    return {"loss": float(cfg.x) ** 2, "spins": float(n)}
'''
SWEEP = """
name: parallel
objective: {metric: loss, goal: minimize}
params: {x: "interval(-5.0, 5.0)", seconds: SECONDS}
trial: {function: bench_parallel:KIND}
search: {method: random}
n_trials: TRIALS
workers: WORKERS
seed: 3
"""


def time_sweep(kind: str, trials: int, workers: int, seconds: float = 1.0) -> float:
    d = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    try:
        (d / "bench_parallel.py").write_text(OBJECTIVE)
        text = SWEEP.replace("KIND", kind).replace("TRIALS", str(trials)).replace("WORKERS", str(workers))
        (d / "sweep.yaml").write_text(text.replace("SECONDS", str(seconds)))
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, env=env, check=True,
                       capture_output=True)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def measure(trials: int = 24, workers: tuple[int, ...] = (1, 2, 4), repeats: int = 1,
            seconds: float = 1.0, kinds: tuple[str, ...] = ("sleep", "cpu")) -> dict[tuple[str, int], list[float]]:
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats):
        for kind in kinds:
            for w in workers:
                times.setdefault((kind, w), []).append(time_sweep(kind, trials, w, seconds))
    return times


def report(times: dict[tuple[str, int], list[float]], trials: int, seconds: float = 1.0) -> str:
    cores = os.cpu_count() or 1
    lines = [f"| {trials} trials of {seconds:g} s, `sweep launch` wall time | workers | wall s (median) | speed-up | "
             "ideal | share of ideal |", "|---|---:|---:|---:|---:|---:|"]
    for kind in ("sleep", "cpu"):
        ws = sorted(w for k, w in times if k == kind)
        if not ws:
            continue
        base = statistics.median(times[kind, ws[0]]) * ws[0]
        for w in ws:
            med = statistics.median(times[kind, w])
            ideal = min(w, cores) if kind == "cpu" else w
            speedup = base / med
            lines.append(f"| {kind} | {w} | {med:.1f} | {speedup:.2f}x | {ideal}x | {speedup / ideal:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(","))
    table = report(measure(args.trials, workers, args.repeats), args.trials)
    print(table)
    return table


if __name__ == "__main__":
    main()
