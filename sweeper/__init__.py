"""sweeper: hyperparameter sweeps from a Hydra YAML, tracked in MLflow, resumable.

Trial code needs only `report`, `checkpoint_dir`, `trial_number` and `TrialPruned`, which import
nothing heavy. The orchestration API lives in `sweeper.api` (load, run, resume, sync, open_study);
`launch` here is a lazy shortcut to it, so `import sweeper` in a trial stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .reporting import TrialPruned, checkpoint_dir, report, trial_number

if TYPE_CHECKING:
    from .api import Result

__all__ = ["TrialPruned", "checkpoint_dir", "launch", "report", "trial_number"]
__version__ = "0.1.0"


def launch(path: str | os.PathLike[str] | Mapping[str, Any], overrides: list[str] | None = None,
           **kwargs: Any) -> Result | str:
    """Run a sweep (a file, or a mapping) to the end from Python and return its `sweeper.api.Result`
    (the description with `dry_run=True`); prints nothing unless given `echo=`."""
    from .api import launch as _launch

    return _launch(path, overrides or [], **kwargs)
