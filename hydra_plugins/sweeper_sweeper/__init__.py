"""sweeper's Hydra Sweeper plugin: `override hydra/sweeper: sweeper` (see config.py, sweeper_sweeper.py)."""
