"""Orchestration overhead: 200 trivial trials through `sweep launch` against the textbook loop and peers.

Every row runs as a fresh process (imports and store creation included) on SQLite stores in scratch
folders, interleaved, `--repeats` times; the table shows medians and each row's ratio to the
textbook loop measured in the same run. The peers (benchmarks/peers/) are Ray Tune (`Tuner` with
`OptunaSearch` and `MLflowLoggerCallback`) and Hydra's Optuna sweeper (`-m` on a `@hydra.main` app,
from its own venv, made on first use, as it pins optuna<3).
Usage: python benchmarks/overhead.py [--trials 200] [--repeats 3] [--no-ray] [--no-peers]
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
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # peers/ is a package beside this file, also when a test imports it
    sys.path.insert(0, str(HERE))
from peers.hydra_venv import ensure_venv, hydra_command  # noqa: E402

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


def _peer_env() -> dict[str, str]:
    # a local Ray without token auth, as sweeper's own (else Ray 2.60 writes ~/.ray/auth_token, which
    # breaks later `ray start` joins here), without usage-stats reporting, and on loopback (Ray's
    # single-machine mode; else it binds the machine's outward address whatever `_node_ip_address` says)
    return {**_clean_env(), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _run_in(workdir: Path | None, prefix: str, argv: list[str]) -> float:
    """Time `argv` run in `workdir` (kept, for checks) or in a scratch folder (removed)."""
    d = workdir or Path(tempfile.mkdtemp(prefix=prefix))
    d.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=d, env=_peer_env(), capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return elapsed
    finally:
        if workdir is None:
            shutil.rmtree(d, ignore_errors=True)


def time_raytune(trials: int, workers: int, workdir: Path | None = None) -> float:
    """Ray Tune peer (peers/raytune_loop.py): fresh local Ray, Tuner + OptunaSearch + MLflowLoggerCallback."""
    d = workdir.resolve() if workdir else None
    return _run_in(d, "bench-raytune-", [sys.executable, str(HERE / "peers" / "raytune_loop.py"), str(trials),
                                         str(workers), "."])


def time_hydra(trials: int, workers: int, workdir: Path | None = None) -> float:
    """Hydra peer: `app.py -m` with the Optuna sweeper, from its own venv (made first, outside the timing)."""
    python, _ = ensure_venv()
    return _run_in(workdir, "bench-hydra-", hydra_command(python, trials, workers))


PEER_ROWS = ("ray tune workers=1", "ray tune workers=2", "hydra optuna sweeper workers=1",
             "hydra optuna sweeper workers=2")


def measure(trials: int, repeats: int, ray: bool = False, peers: bool = False,
            workers: tuple[int, ...] = (1, 2)) -> dict[str, list[float]]:
    """Wall seconds per row and repeat; `peers` adds the Ray Tune and Hydra rows (PEER_ROWS)."""
    times: dict[str, list[float]] = {"textbook loop": [], **{f"sweeper workers={w}": [] for w in workers}}
    if ray:
        times.update({"sweeper ray workers=1": [], "sweeper ray workers=2": []})
    if peers:
        ensure_venv()  # once, before any timing: a missing venv fails here, not after an hour of rows
        times.update({name: [] for name in PEER_ROWS})
    for _ in range(repeats):  # interleaved, so a busy moment hurts every row alike
        times["textbook loop"].append(time_textbook(trials))
        for w in workers:
            times[f"sweeper workers={w}"].append(time_sweeper(trials, w))
        if ray:  # a fresh local Ray each time: its start (~5 s) is part of what a user waits for
            times["sweeper ray workers=1"].append(time_sweeper(trials, 1, "ray"))
            times["sweeper ray workers=2"].append(time_sweeper(trials, 2, "ray"))
        if peers:
            for w in (1, 2):
                times[f"ray tune workers={w}"].append(time_raytune(trials, w))
                times[f"hydra optuna sweeper workers={w}"].append(time_hydra(trials, w))
    return times


def rows(times: dict[str, list[float]], trials: int) -> list[dict[str, Any]]:
    """The table as data, for a report builder: name, median wall s, ms per trial, ratio to textbook."""
    base = statistics.median(times["textbook loop"])
    out = []
    for name, ts in times.items():
        med = statistics.median(ts)
        out.append({"name": name, "wall_s": med, "ms_per_trial": med / trials * 1000, "ratio": med / base,
                    "repeats": len(ts)})
    return out


def peer_rows(trials: int = 200, repeats: int = 3, ray: bool = False) -> list[dict[str, Any]]:
    """Measure with the peers and return the rows (see `rows`); textbook and sweeper rows included."""
    return rows(measure(trials, repeats, ray=ray, peers=True), trials)


def report(times: dict[str, list[float]], trials: int) -> str:
    lines = [f"| {trials} trivial trials, TPE, SQLite, tracking on | wall s (median) | ms/trial | ratio to textbook |",
             "|---|---:|---:|---:|"]
    for r in rows(times, trials):
        lines.append(f"| {r['name']} | {r['wall_s']:.2f} | {r['ms_per_trial']:.1f} | {r['ratio']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray backend rows")
    ap.add_argument("--no-peers", action="store_true", help="skip the Ray Tune and Hydra peer rows")
    args = ap.parse_args(argv)
    table = report(measure(args.trials, args.repeats, ray=not args.no_ray, peers=not args.no_peers), args.trials)
    print(table)
    return table


if __name__ == "__main__":
    main()
