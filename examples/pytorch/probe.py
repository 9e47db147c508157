"""`train` with a record of the device each trial was given, seen from inside the trial.

Used by `check_gpu.py` (a run on a real GPU machine): every trial appends its CUDA_VISIBLE_DEVICES,
what torch sees (device count, name, the physical GPU's UUID) and its start and end times to the
file named by SWEEPER_GPU_PROBE, so the check can count how many trials shared each device at once.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from train import train as _train


def _record(event: dict[str, Any]) -> None:
    path = os.environ.get("SWEEPER_GPU_PROBE")
    if path:
        with open(path, "a") as f:  # one short line per write: appends from several processes stay whole
            f.write(json.dumps(event) + "\n")


def train(cfg: Any) -> dict[str, float]:
    import torch

    seen = torch.cuda.device_count()
    uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in range(seen)]
    base = {"pid": os.getpid(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "seen": seen,
            "uuids": uuids, "name": torch.cuda.get_device_name(0) if seen else ""}
    _record({**base, "event": "start", "t": time.time()})
    try:  # a pruned trial (TrialPruned) ends here too
        out = _train(cfg)
    finally:
        peak = torch.cuda.max_memory_allocated() / 2**20 if seen else 0.0
        _record({**base, "event": "end", "t": time.time(), "peak_mb": peak})
    return {**out, "gpus_seen": float(seen)}
