"""A Hydra app for the plugin's tests: a config group, HydraConfig, a crash on demand, reports for
early stopping, and a gate (`GATE` names a folder) that holds jobs numbered 2 and up until `go` is there."""

import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import sweeper


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    Path(hc.runtime.output_dir, "seen.txt").write_text(f"{cfg.db.driver} {cfg.x} {hc.job.num}")
    gate = os.environ.get("GATE")
    if gate and hc.job.num >= 2:
        Path(gate, f"waiting-{hc.job.num}").touch()
        while not Path(gate, "go").exists():
            time.sleep(0.05)
    if cfg.crash_on == cfg.db.driver and cfg.x == 1:
        raise RuntimeError(f"{cfg.db.driver} cannot take x=1")
    loss = float(cfg.x) + cfg.db.port / 10000
    for step in range(3):
        sweeper.report(step=step, loss=loss + 1.0 / (step + 1))
    return loss


if __name__ == "__main__":
    main()
