"""Several objectives: hypervolume after 50 and 100 trials, per search method, against random search.

Each (method, problem, seed) is one `sweep launch` of `--trials` trials in a scratch folder,
`workers: 1` (a seed reproduces its sweep). The study is read back afterwards; the hypervolume at
k is that of the non-dominated set of the first k complete trials (by trial number) against the
problem's reference point, both objectives minimised (2-D: a sum of rectangles, exact). The table
shows the median over seeds and the ratio to random search's median (higher is better).

Problems: Binh and Korn (x in [0, 5], y in [0, 3]; reference (140, 50)) and ZDT1 with 6 variables
in [0, 1] (reference (1.1, 11)). `gp` needs PyTorch and is left out unless asked for.
Usage: python benchmarks/multi_objective.py [--seeds 10] [--trials 100] [--methods random,tpe,nsgaii,nsgaiii]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OBJECTIVES = '''
import math


def binh_korn(cfg):
    x, y = float(cfg.x), float(cfg.y)
    return {"f1": 4 * x * x + 4 * y * y, "f2": (x - 5) ** 2 + (y - 5) ** 2}


def zdt1(cfg):
    xs = [float(cfg[f"x{i}"]) for i in range(6)]
    g = 1 + 9 * sum(xs[1:]) / 5
    return {"f1": xs[0], "f2": g * (1 - math.sqrt(xs[0] / g))}
'''

PROBLEMS = {
    "binh_korn": ({"x": "interval(0.0, 5.0)", "y": "interval(0.0, 3.0)"}, (140.0, 50.0)),
    "zdt1": ({f"x{i}": "interval(0.0, 1.0)" for i in range(6)}, (1.1, 11.0)),
}


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """The area dominated by `points` (both minimised) and bounded by `ref`."""
    inside = sorted((a, b) for a, b in points if a < ref[0] and b < ref[1])
    area, best_b = 0.0, ref[1]
    for i, (a, b) in enumerate(inside):
        if b >= best_b:
            continue  # dominated by a point with smaller f1
        next_a = next((a2 for a2, b2 in inside[i + 1:] if b2 < b), ref[0])
        area += (next_a - a) * (ref[1] - b)
        best_b = b
    return area


def _yaml(method: str, problem: str, seed: int, trials: int) -> str:
    params, _ = PROBLEMS[problem]
    lines = [f"defaults:\n  - search: {method}\n  - _self_", f"name: mo-{method}-{problem}-{seed}",
             "objective:\n  - {metric: f1, goal: minimize}\n  - {metric: f2, goal: minimize}",
             "params:"] + [f"  {k}: {v}" for k, v in params.items()] + [
             f"trial: {{function: mo_objectives:{problem}}}", f"n_trials: {trials}", "workers: 1", f"seed: {seed}"]
    return "\n".join(lines) + "\n"


def run_one(method: str, problem: str, seed: int, trials: int, checkpoints: tuple[int, ...]) -> dict[int, float]:
    import optuna

    d = Path(tempfile.mkdtemp(prefix="sweeper-mo-"))
    try:
        (d / "mo_objectives.py").write_text(OBJECTIVES)
        (d / "sweep.yaml").write_text(_yaml(method, problem, seed, trials))
        env = {**os.environ, "PYTHONPATH": str(d), "SWEEPER_REPORT": "0"}
        p = subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"sweep launch ({method}, {problem}, seed {seed}) exited {p.returncode}: {p.stderr[-500:]}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=f"mo-{method}-{problem}-{seed}", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        done = sorted((t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"), key=lambda t: t.number)
        ref = PROBLEMS[problem][1]
        return {k: hypervolume([(t.values[0], t.values[1]) for t in done[:k]], ref) for k in checkpoints}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--methods", default="random,tpe,nsgaii,nsgaiii")
    ap.add_argument("--problems", default="binh_korn,zdt1")
    a = ap.parse_args(argv)
    methods, problems = a.methods.split(","), a.problems.split(",")
    checkpoints = tuple(sorted({min(50, a.trials), a.trials}))
    med: dict[tuple[str, str], dict[int, float]] = {}
    for problem in problems:
        for method in methods:
            runs = [run_one(method, problem, seed, a.trials, checkpoints) for seed in range(a.seeds)]
            med[(problem, method)] = {k: statistics.median(r[k] for r in runs) for k in checkpoints}
            print(f"{problem} {method}: " + ", ".join(f"HV@{k} {v:.4g}" for k, v in med[(problem, method)].items()),
                  file=sys.stderr, flush=True)
    head = " | ".join(f"HV@{k} (median) | vs random" for k in checkpoints)
    out = [f"Hypervolume, median of {a.seeds} seeds, {a.trials} trials, workers=1 (higher is better)", "",
           f"| problem | method | {head} |", "|---|---|" + "---:|---:|" * len(checkpoints)]
    for (problem, method), hv in med.items():
        base = med.get((problem, "random"))
        cells = [f"{hv[k]:.4g} | {hv[k] / base[k]:.2f}x" if base and base[k] else f"{hv[k]:.4g} | -" for k in checkpoints]
        out.append(f"| {problem} | {method} | " + " | ".join(cells) + " |")
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
