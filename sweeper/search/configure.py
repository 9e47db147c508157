"""`search.configure`: a user's function that adds params to each trial, define-by-run.

The same contract as hydra-optuna-sweeper's `custom_search_space`: `function(cfg, trial)` is called
with the trials' base config and the Optuna trial once the declared params are drawn, and may
`trial.suggest_*` more (whose ranges may depend on what was drawn). It runs where the trial is
asked, in the driver (it needs the live `optuna.Trial`); it is search-space code, not the trial.
A retry or resume re-asks the trial with its recorded params enqueued, so the function's suggests
return the same values again and the study stays the truth.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..config.spec import SweepSpec
from ..errors import SpecError

Configure = Callable[[Any, Any], None]


def load(spec: SweepSpec) -> Configure | None:
    """The function `search.configure` names, imported from the sweep's working directory (as trial
    functions are); SpecError naming the key when it does not import. None when the sweep has none."""
    target = spec.search.configure
    if target is None:
        return None
    from ..runtime.function_trial import check_function, resolve_function

    if spec.workdir not in sys.path:
        sys.path.insert(0, spec.workdir)
    problem = check_function(target)
    if problem:
        raise SpecError(spec.source, "search.configure", problem)
    return resolve_function(target)


def base_config(spec: SweepSpec) -> Any:
    """What `cfg` is for a sweep of ours: the trial's base config (`trial.config`) with the fixed
    params applied, i.e. every trial's config before its searched params."""
    from ..runtime.trial_config import compose_config

    fixed = {n: p.value for n, p in spec.params.items() if p.is_fixed}
    config_path = None
    if spec.trial.config:
        import os

        config_path = os.path.join(spec.base_dir, spec.trial.config)
    return compose_config(fixed, config_path)
