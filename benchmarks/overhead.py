"""Orchestration overhead: 200 trivial trials through `sweep launch` against the textbook loop.

Both run as fresh processes (imports and store creation included) on SQLite stores in scratch
folders, interleaved, `--repeats` times; the table shows medians and sweeper's ratio to the
textbook loop measured in the same run. Usage: python benchmarks/overhead.py [--trials 200]
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

HERE = Path(__file__).resolve().parent
OBJECTIVE = "def trivial(cfg):\n    return {'loss': float(cfg.x) ** 2}\n"
SWEEP = """
name: overhead
objective: {metric: loss, goal: minimize}
params: {x: "interval(-5.0, 5.0)"}
trial: {function: bench_objective:trivial}
search: {method: tpe, n_startup_trials: 10}
seed: 7
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    return env


def time_sweeper(trials: int, workers: int, backend: str = "local") -> float:
    d = Path(tempfile.mkdtemp(prefix="bench-sweeper-"))
    try:
        (d / "bench_objective.py").write_text(OBJECTIVE)
        (d / "sweep.yaml").write_text(SWEEP)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml", f"n_trials={trials}",
                        f"workers={workers}", f"backend={backend}"], cwd=d, env=_clean_env(), check=True,
                       capture_output=True)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def time_textbook(trials: int) -> float:
    d = Path(tempfile.mkdtemp(prefix="bench-textbook-"))
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "textbook_loop.py"), str(trials), str(d)], cwd=d,
                       env=_clean_env(), check=True, capture_output=True)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def measure(trials: int, repeats: int, ray: bool = False) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"textbook loop": [], "sweeper workers=1": [], "sweeper workers=2": []}
    if ray:
        times.update({"sweeper ray workers=1": [], "sweeper ray workers=2": []})
    for _ in range(repeats):  # interleaved, so a busy moment hurts every row alike
        times["textbook loop"].append(time_textbook(trials))
        times["sweeper workers=1"].append(time_sweeper(trials, 1))
        times["sweeper workers=2"].append(time_sweeper(trials, 2))
        if ray:  # a fresh local Ray each time: its start (~5 s) is part of what a user waits for
            times["sweeper ray workers=1"].append(time_sweeper(trials, 1, "ray"))
            times["sweeper ray workers=2"].append(time_sweeper(trials, 2, "ray"))
    return times


def report(times: dict[str, list[float]], trials: int) -> str:
    base = statistics.median(times["textbook loop"])
    lines = [f"| {trials} trivial trials, TPE, SQLite, tracking on | wall s (median) | ms/trial | ratio to textbook |",
             "|---|---:|---:|---:|"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| {name} | {med:.2f} | {med / trials * 1000:.1f} | {med / base:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray backend rows")
    args = ap.parse_args(argv)
    table = report(measure(args.trials, args.repeats, ray=not args.no_ray), args.trials)
    print(table)
    return table


if __name__ == "__main__":
    main()
