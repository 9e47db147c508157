"""An ordinary `@hydra.main` script, run unchanged as a `command` trial.

The sweep passes the trial's params as Hydra overrides (`optimizer.lr=0.01 model.width=64`).
It reports each epoch with `sweeper.report`, which does nothing when the script runs on its own.
A script that cannot import sweeper may instead print `SWEEPER_RESULT {"val_loss": ...}` lines.
"""

from __future__ import annotations

import json
import math

import hydra
from omegaconf import DictConfig

try:
    import sweeper
except ImportError:  # running somewhere sweeper is not installed
    sweeper = None


def val_loss_at(cfg: DictConfig, epoch: int) -> float:
    """A synthetic but deterministic learning curve, shaped by the hyperparameters."""
    lr, momentum, width = cfg.optimizer.lr, cfg.optimizer.momentum, cfg.model.width
    speed = lr * (1 + 4 * momentum) * (1 if cfg.optimizer.name == "sgd" else 2.5)
    floor = 0.05 + (math.log10(lr) + 2.0) ** 2 * 0.1 + 8.0 / width
    return floor + 2.0 * math.exp(-speed * 40 * (epoch + 1))


@hydra.main(config_path=".", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    loss = float("nan")
    for epoch in range(cfg.epochs):
        loss = val_loss_at(cfg, epoch)
        if sweeper is not None:
            sweeper.report(step=epoch, val_loss=loss)
    print("SWEEPER_RESULT " + json.dumps({"val_loss": loss}))


if __name__ == "__main__":
    main()
