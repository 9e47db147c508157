"""A learning-curve benchmark whose curves are fixed by seed, for measuring early termination.

Real learning curves cross: a high learning rate drops fast and settles high, a moderate one is
slow and ends lowest, a wide net without dropout overfits late. These curves have those shapes,
plus noise that is larger early, all a pure function of (config, epoch, seed). The true final value
of any config is known (`true_final`), and so is the best one over the space (`optimum`), so a
sweep's result is scored by its regret rather than by a number only comparable within one run.
"""

from __future__ import annotations

import hashlib
import math
import time
from functools import cache
from typing import Any

import numpy as np

EPOCHS = 27
WIDTHS = (16, 32, 64, 128, 256)
PARAMS = {
    "lr": "tag(log, interval(1e-4, 1.0))",
    "width": "choice(16, 32, 64, 128, 256)",
    "dropout": "interval(0.0, 0.6)",
    "weight_decay": "tag(log, interval(1e-6, 1e-2))",
}


def _shape(lr: Any, width: Any, dropout: Any, wd: Any) -> tuple[Any, Any, Any]:
    """(asymptote, speed, overfitting slope) of a config; numpy-vectorised for `optimum`."""
    u = np.log10(lr)
    asymptote = (0.08 + 0.05 * (u + 2.3) ** 2 + 0.01 * (np.log2(width) - 7.0) ** 2
                 + 0.06 * (dropout - 0.3) ** 2 + 0.004 * (np.log10(wd) + 4.0) ** 2)
    speed = np.clip(40.0 * lr, 0.005, 3.0)
    overfit = 0.0015 * (1.0 - dropout / 0.6) * (width / 256.0) * (1.0 - 0.3 * (np.log10(wd) + 6.0) / 4.0)
    return asymptote, speed, overfit


def _clean(lr: Any, width: Any, dropout: Any, wd: Any, epoch: int) -> Any:
    a, k, o = _shape(lr, width, dropout, wd)
    return a + (2.3 - a) * np.exp(-k * (epoch + 1)) + o * max(0, epoch - 8)


def true_final(cfg: Any, epochs: int = EPOCHS) -> float:
    """The noise-free value at the last epoch: what the chosen config is really worth."""
    return float(_clean(float(cfg["lr"]), int(cfg["width"]), float(cfg["dropout"]), float(cfg["weight_decay"]),
                        epochs - 1))


@cache
def optimum(epochs: int = EPOCHS) -> float:
    """The best noise-free final value over the space, by a dense grid (the shapes are smooth)."""
    lr = np.logspace(-4, 0, 241)[:, None, None]
    dropout = np.linspace(0.0, 0.6, 61)[None, :, None]
    wd = np.logspace(-6, -2, 41)[None, None, :]
    return float(min(_clean(lr, w, dropout, wd, epochs - 1).min() for w in WIDTHS))


def observed(cfg: Any, epoch: int, seed: int) -> float:
    """The value a trial sees at `epoch`: the clean curve plus noise fixed by (config, epoch, seed)."""
    key = f"{seed}|{float(cfg['lr']):.12g}|{int(cfg['width'])}|{float(cfg['dropout']):.12g}|" \
          f"{float(cfg['weight_decay']):.12g}|{epoch}"
    rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little"))
    noise = rng.normal(0.0, 0.004 + 0.03 * math.exp(-epoch / 4.0))
    return float(_clean(float(cfg["lr"]), int(cfg["width"]), float(cfg["dropout"]), float(cfg["weight_decay"]),
                        epoch) + noise)


def train(cfg: Any) -> dict[str, float]:
    """A sweep trial: one epoch costs `epoch_s` seconds of sleep, like a GPU busy elsewhere."""
    import sweeper

    value = float("nan")
    for epoch in range(int(cfg.epochs)):
        time.sleep(float(cfg.get("epoch_s", 0.0)))
        value = observed(cfg, epoch, int(cfg.curve_seed))
        sweeper.report(step=epoch, val_loss=value)
    return {"val_loss": value}
