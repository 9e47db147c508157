"""Start-up: how long `sweep --help` and `sweep ls` take, against `optuna --help`.

A CLI that imports MLflow, Ray or torch at start costs a second or more on every call; these are
the commands a user types most. Each is run `--repeats` times as a fresh process, interleaved;
the table shows medians and the ratio to `optuna --help` measured in the same run.
Usage: python benchmarks/startup.py [--repeats 7]
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

BIN = Path(sys.executable).parent
SWEEP = """
name: startup
objective: {metric: loss}
params: {x: "interval(0.0, 1.0)"}
trial: {function: bench_startup:f}
n_trials: 2
workers: 1
"""


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def measure(repeats: int = 7) -> dict[str, list[float]]:
    d = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    try:
        # `sweep ls` reads a real store: one small finished sweep
        (d / "bench_startup.py").write_text("def f(cfg):\n    return {'loss': float(cfg.x)}\n")
        (d / "sweep.yaml").write_text(SWEEP)
        subprocess.run([str(BIN / "sweep"), "launch", "sweep.yaml"], cwd=d, env=env, check=True, capture_output=True)
        cmds = {"optuna --help": [str(BIN / "optuna"), "--help"], "sweep --help": [str(BIN / "sweep"), "--help"],
                "sweep ls": [str(BIN / "sweep"), "ls"]}
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(repeats):
            for name, argv in cmds.items():
                times[name].append(_time(argv, d, env))
        return times
    finally:
        shutil.rmtree(d, ignore_errors=True)


def report(times: dict[str, list[float]]) -> str:
    base = statistics.median(times["optuna --help"])
    lines = ["| command (fresh process) | wall ms (median) | ratio to `optuna --help` |", "|---|---:|---:|"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| `{name}` | {med * 1000:.0f} | {med / base:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    table = report(measure(args.repeats))
    print(table)
    return table


if __name__ == "__main__":
    main()
