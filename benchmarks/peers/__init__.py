"""Benchmark peers: the same sweep written with other tools (Ray Tune, Hydra's Optuna sweeper)."""
