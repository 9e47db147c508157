"""sweeper: hyperparameter sweeps from a Hydra YAML, tracked in MLflow, resumable.

Trial code needs only `report`, `checkpoint_dir` and `TrialPruned`, which import nothing heavy;
the orchestration API (`launch`) is imported lazily so `import sweeper` in a trial stays cheap.
"""

from __future__ import annotations

from typing import Any

from .reporting import TrialPruned, checkpoint_dir, report, trial_number

__all__ = ["TrialPruned", "checkpoint_dir", "launch", "report", "trial_number"]
__version__ = "0.1.0"


def launch(path: str, overrides: list[str] | None = None, **kwargs: Any) -> Any:
    """Run a sweep file to the end from Python; returns the sweep's summary."""
    from .launcher import launch as _launch

    return _launch(path, overrides or [], **kwargs)
