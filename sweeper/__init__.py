"""sweeper: hyperparameter sweeps from a Hydra YAML, tracked in MLflow, resumable.

Trial code needs only `report`, `checkpoint_dir`, `trial_number` and `TrialPruned`, which import
nothing heavy. The orchestration API lives in `sweeper.api` (load, run, resume, sync, open_study);
`launch` here is a lazy shortcut to it, so `import sweeper` in a trial stays cheap.
"""

from __future__ import annotations

from typing import Any

from .reporting import TrialPruned, checkpoint_dir, report, trial_number

__all__ = ["TrialPruned", "checkpoint_dir", "launch", "report", "trial_number"]
__version__ = "0.1.0"


def launch(path: str, overrides: list[str] | None = None, **kwargs: Any) -> Any:
    """Run a sweep file to the end from Python; returns its `sweeper.api.Result` (prints nothing)."""
    from .api import launch as _launch

    return _launch(path, overrides or [], **kwargs)
