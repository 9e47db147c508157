"""MLflow's client imported without the DataFrame libraries, for the writer process.

`import mlflow` imports pandas, and pandas pyarrow, only to register `mlflow.data.from_pandas`, an
optional constructor MLflow registers inside `contextlib.suppress(ImportError)`. The writer logs
params, metrics, tags and files through `MlflowClient` and never builds a DataFrame, yet every
sweep's writer paid ~0.8 of its ~2.5 CPU-s of import for them. Here those two are hidden while
MLflow imports (a `None` in `sys.modules` makes their import raise `ModuleNotFoundError`, as the
import system documents), then shown again: what MLflow imports later, inside a function, still
imports them as usual. If a newer MLflow needs them at import, the import is simply redone with
them (tests/unit/test_lean_import.py says which happened for the MLflow installed).
"""

from __future__ import annotations

import sys

HIDDEN = ("pandas", "pyarrow")


def import_mlflow_client() -> bool:
    """Import `mlflow.tracking`; True if it came without the libraries in `HIDDEN`.

    Libraries imported already in this process are left as they are (then nothing is saved)."""
    hidden = [name for name in HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import mlflow.tracking  # noqa: F401
        lean = True
    except ImportError:  # this MLflow needs them: forget the half-done import and do it whole
        lean = False
        for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
            del sys.modules[name]
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    if not lean:
        import mlflow.tracking  # noqa: F401
    return lean
