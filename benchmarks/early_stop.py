"""Compute saved by early termination: epochs trained, wall time and the result, per policy.

Two problems, each run through `sweep launch` once per (policy, seed), TPE with the same seed
and `n_trials` for every policy:
- `quickstart`: the quickstart MLP on scikit-learn's digits, 27 epochs a trial. Its optimum is
  unknown, so the result is the best val_loss found, against the unpruned sweep of the same seed.
- `curves`: learning curves fixed by seed (`curves.py`), so the result is the true regret of the
  config each sweep picks, and ten seeds cost a few minutes.
The table shows medians over seeds, and two more rows:
- `none, hyperband's epochs`: an unpruned sweep given only the epochs hyperband used (as many full
  trials as they pay for). It tells whether pruning beat simply running fewer trials.
- `hyperband, unpruned sweep's trials`: hyperband on the very configurations the unpruned sweep
  ran, in the same order (`replay.py`). It measures the pruner's decisions alone; the rest of
  hyperband's gap comes from TPE proposing other configurations once it learns from pruned trials.
Usage:
  python benchmarks/early_stop.py [--problem quickstart|curves] [--seeds 0,1,2] [--trials 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # curves.py sits beside this file, which may be imported from elsewhere
    sys.path.insert(0, str(HERE))
import curves  # noqa: E402

QUICKSTART = HERE.parent / "examples" / "quickstart"
POLICIES = {
    "none": "",
    "median": "early_stop: {type: median, warmup_steps: 3, startup_trials: 5}",
    "asha": "early_stop: {type: asha, min_iter: 1, eta: 3}",
    "hyperband": "early_stop: {type: hyperband, min_iter: 1, max_iter: EPOCHS, eta: 3}",
}
HEAD = """
defaults:
  - search: tpe
  - _self_
name: es-bench
objective: {metric: val_loss, goal: minimize}
n_trials: TRIALS
workers: WORKERS
seed: SEED
"""
PROBLEMS: dict[str, dict[str, Any]] = {
    "quickstart": {
        "files": [QUICKSTART / "train.py"],
        "params": {"lr": "tag(log, interval(1e-4, 1e-1))", "alpha": "tag(log, interval(1e-6, 1e-2))",
                   "hidden": "choice(16, 32, 64, 128)", "batch_size": "choice(32, 64, 128)"},
        "trial": "train:train",
    },
    "curves": {
        "files": [HERE / "curves.py"],
        "params": curves.PARAMS,
        "trial": "curves:train",
        "extra": {"curve_seed": "SEED", "epoch_s": "0.01"},
    },
}


def _sweep_yaml(problem: str, policy: str, trials: int, epochs: int, seed: int, workers: int,
                function: str | None = None) -> str:
    prob = PROBLEMS[problem]
    params = dict(prob["params"])
    lines = [HEAD, "params:"]
    lines += [f"  {k}: {v}" for k, v in params.items()]
    lines.append("  epochs: EPOCHS")
    lines += [f"  {k}: {v}" for k, v in prob.get("extra", {}).items()]
    lines += [f"trial: {{function: {function or prob['trial']}}}", POLICIES[policy], ""]
    text = "\n".join(lines)
    for k, v in {"EPOCHS": epochs, "TRIALS": trials, "SEED": seed, "WORKERS": workers}.items():
        text = text.replace(k, str(v))
    return text


def run_policy(policy: str, trials: int, epochs: int, seed: int = 0, workers: int = 2,
               problem: str = "quickstart", replay: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One sweep; returns what it cost (epochs, wall), what it found (best, and regret if known),
    and every trial's params and final value (None if pruned) in trial order. With `replay` (such
    a list of params), trial N trains `replay[N]` instead of what the sampler proposed."""
    import optuna

    d = Path(tempfile.mkdtemp(prefix=f"bench-es-{policy}-"))
    try:
        for f in PROBLEMS[problem]["files"]:
            shutil.copy(f, d / Path(f).name)
        function = None
        if replay is not None:
            shutil.copy(HERE / "replay.py", d / "replay.py")
            (d / "replay.json").write_text(json.dumps({"trial": PROBLEMS[problem]["trial"], "params": replay}))
            function = "replay:train"
        (d / "sweep.yaml").write_text(_sweep_yaml(problem, policy, trials, epochs, seed, workers, function))
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweeper.cli", "launch", "sweep.yaml"], cwd=d, check=True,
                       capture_output=True, env=env)
        wall = time.perf_counter() - t0
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="es-bench", storage=f"sqlite:///{d}/.sweeps/sweeps.db")
        ordered = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        row = {"problem": problem, "policy": policy, "seed": seed, "wall": wall, "best": study.best_value,
               "epochs": sum(len(t.intermediate_values) for t in ordered),
               "pruned": sum(t.state.name == "PRUNED" for t in ordered),
               "params": [t.params for t in ordered],
               "values": [t.value if t.state.name == "COMPLETE" else None for t in ordered]}
        if problem == "curves":
            best = replay[study.best_trial.number] if replay is not None else study.best_params
            row["final"] = curves.true_final(best, epochs)
            row["regret"] = row["final"] - curves.optimum(epochs)
        return row
    finally:
        shutil.rmtree(d, ignore_errors=True)


#: the row that answers "was pruning worth it?": no pruning, given only the epochs hyperband used
SAME_EPOCHS = "none, hyperband's epochs"
#: the row that answers "did the pruner stop the wrong trials?": hyperband on the unpruned sweep's configs
REPLAY = "hyperband, unpruned sweep's trials"


def measure(problem: str, policies: list[str], seeds: list[int], trials: int, epochs: int,
            workers: int, same_epochs: bool = True, replay: bool = True) -> list[dict[str, Any]]:
    """Every (policy, seed); with hyperband among the policies, also
    - (`same_epochs`) an unpruned sweep of as many full trials as hyperband's epochs pay for (same
      seed): the same compute spent without pruning. Pruning pays only where it beats that row;
    - (`replay`, with `none` among the policies too) hyperband on the unpruned sweep's configs:
      what the pruner's own decisions cost, apart from the sampler's."""
    rows = []
    for seed in seeds:  # seed-major, so a busy moment of the machine hurts every policy alike
        got = [run_policy(p, trials, epochs, seed, workers, problem) for p in policies]
        hb = next((r for r in got if r["policy"] == "hyperband"), None)
        none = next((r for r in got if r["policy"] == "none"), None)
        if same_epochs and hb is not None:
            n = max(1, round(hb["epochs"] / epochs))
            got.append({**run_policy("none", n, epochs, seed, workers, problem), "policy": SAME_EPOCHS})
        if replay and hb is not None and none is not None:
            got.append({**run_policy("hyperband", trials, epochs, seed, workers, problem, replay=none["params"]),
                        "policy": REPLAY})
        rows += got
    return rows


#: the issue's target for hyperband: at most this share of the unpruned sweep's epochs...
TARGET_SHARE = 0.40
#: ...and a best value at most this much worse than the unpruned sweep's (same seed, same n_trials)
TARGET_WORSE = 0.02


def report(rows: list[dict[str, Any]], trials: int, epochs: int) -> str:
    """Medians over seeds; each policy's cost and result are compared with `none` of the same seeds.

    Per seed it also counts how often the best value (for `curves`, the chosen config's true final
    value) is within 2% of the unpruned sweep's, and how often that came with at most 40% of its
    epochs: the target, judged seed by seed, since a median of each half can hide that they never
    happen together."""
    problem = rows[0]["problem"]
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["policy"], r["seed"]): r for r in rows}
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    base = "none" if "none" in policies else policies[0]
    regret = problem == "curves"
    result = "final regret" if regret else "best val_loss"
    lines = [f"| {problem}: {trials} trials x {epochs} epochs, TPE, {len(seeds)} seed(s), medians | pruned | "
             f"epochs trained | share of unpruned | wall s | {result} | vs unpruned | within 2% | "
             "and <= 40% epochs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    found = "final" if regret else "best"
    for p in policies:
        rs = [by[p, s] for s in seeds]
        share = statistics.median(by[p, s]["epochs"] / by[base, s]["epochs"] for s in seeds)
        key = "regret" if regret else "best"
        value = statistics.median(r[key] for r in rs)
        base_value = statistics.median(by[base, s][key] for s in seeds)
        if regret:
            vs = f"{value / base_value:.2f}x" if base_value > 0 else "n/a"
        else:
            vs = f"{(value - base_value) / base_value:+.1%}"
        close = [s for s in seeds if by[p, s][found] <= by[base, s][found] * (1 + TARGET_WORSE)]
        cheap = [s for s in close if by[p, s]["epochs"] <= by[base, s]["epochs"] * TARGET_SHARE]
        lines.append(f"| {p} | {statistics.median(r['pruned'] for r in rs):g} | "
                     f"{statistics.median(r['epochs'] for r in rs):g} | {share:.0%} | "
                     f"{statistics.median(r['wall'] for r in rs):.1f} | {value:.4f} | {vs} | "
                     f"{len(close)}/{len(seeds)} | {len(cheap)}/{len(seeds)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", choices=list(PROBLEMS), default="quickstart")
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated sweep seeds")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--no-same-epochs", action="store_true", help=f"skip the row {SAME_EPOCHS!r}")
    ap.add_argument("--no-replay", action="store_true", help=f"skip the row {REPLAY!r}")
    ap.add_argument("--rows", help="also write every sweep's row here, one JSON object a line")
    args = ap.parse_args(argv)
    rows = measure(args.problem, args.policies.split(","), [int(s) for s in args.seeds.split(",")],
                   args.trials, args.epochs, args.workers, same_epochs=not args.no_same_epochs,
                   replay=not args.no_replay)
    if args.rows:
        with open(args.rows, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    table = report(rows, args.trials, args.epochs)
    print(table)
    return table


if __name__ == "__main__":
    main()
