"""The front of the flow: a sweep's definition, from its dialect to one validated `SweepSpec`.

`schema.py` declares every key once; `dialects.py` recognises how a sweep is written;
`load.py` composes and validates it (from a file or from memory); `space.py` parses the search
space; `spec.py` holds the result, plain data that everything after the loader reads.
The loader is imported here too (it imports no Hydra until called), so `sweeper.config.load` is
the function; its module is `sweeper.config.load` only as a submodule path.
"""

from .load import default_storage, load
from .schema import BUDGET_KEYS, KEYS
from .space import Param
from .spec import (
    BackendSpec,
    EarlyStopSpec,
    Objective,
    Resources,
    SearchSpec,
    SweepSpec,
    TrackingSpec,
    TrialSpec,
)

__all__ = ["BUDGET_KEYS", "KEYS", "BackendSpec", "EarlyStopSpec", "Objective", "Param", "Resources", "SearchSpec",
           "SweepSpec", "TrackingSpec", "TrialSpec", "default_storage", "load"]

