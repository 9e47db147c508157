"""Compute saved by early termination on the quickstart model (MLP on digits).

The same sweep (TPE, same seed and n_trials, 27 epochs a trial) runs once per policy through
`sweep launch`; the table shows epochs trained, wall time and the best val_loss found, each
against the unpruned sweep. Usage: python benchmarks/early_stop.py [--trials 60] [--epochs 27]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUICKSTART = HERE.parent / "examples" / "quickstart"
POLICIES = {
    "none": "",
    "median": "early_stop: {type: median, warmup_steps: 3, startup_trials: 5}",
    "asha": "early_stop: {type: asha, min_iter: 1, eta: 3}",
    "hyperband": "early_stop: {type: hyperband, min_iter: 1, max_iter: EPOCHS, eta: 3}",
}
SWEEP = """
defaults:
  - search: tpe
  - _self_
name: es-bench
objective: {metric: val_loss, goal: minimize}
params:
  lr: tag(log, interval(1e-4, 1e-1))
  alpha: tag(log, interval(1e-6, 1e-2))
  hidden: choice(16, 32, 64, 128)
  batch_size: choice(32, 64, 128)
  epochs: EPOCHS
trial: {function: train:train}
n_trials: TRIALS
workers: 2
seed: 0
"""


def run_policy(policy: str, trials: int, epochs: int) -> dict[str, Any]:
    import optuna

    d = Path(tempfile.mkdtemp(prefix=f"bench-es-{policy}-"))
    try:
        shutil.copy(QUICKSTART / "train.py", d / "train.py")
        text = SWEEP + POLICIES[policy] + "\n"
        (d / "sweep.yaml").write_text(text.replace("EPOCHS", str(epochs)).replace("TRIALS", str(trials)))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, check=True,
                       capture_output=True)
        wall = time.perf_counter() - t0
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="es-bench", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        epochs_run = sum(len(t.intermediate_values) for t in study.trials)
        pruned = sum(t.state.name == "PRUNED" for t in study.trials)
        return {"policy": policy, "epochs": epochs_run, "wall": wall, "best": study.best_value, "pruned": pruned}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def report(rows: list[dict[str, Any]], trials: int, epochs: int) -> str:
    base = rows[0]
    lines = [f"| policy ({trials} trials x {epochs} epochs, TPE, 2 workers) | pruned | epochs trained | "
             "share of unpruned | wall s | best val_loss | vs unpruned |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['pruned']} | {r['epochs']} | {r['epochs'] / base['epochs']:.0%} | "
                     f"{r['wall']:.1f} | {r['best']:.4f} | {(r['best'] - base['best']) / base['best']:+.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--policies", default=",".join(POLICIES))
    args = ap.parse_args(argv)
    rows = [run_policy(p, args.trials, args.epochs) for p in args.policies.split(",")]
    table = report(rows, args.trials, args.epochs)
    print(table)
    return table


if __name__ == "__main__":
    main()
