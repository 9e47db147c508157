"""The writer imports MLflow's client without pandas and pyarrow: contract tests against the
installed MLflow, each in a fresh interpreter (this one has imported them already)."""

from __future__ import annotations

import json
import subprocess
import sys

from sweeper.tracking.mlflow.lean_import import HIDDEN

PROBE = """
import json, sys
from sweeper.tracking.mlflow import lean_import
lean_import.HIDDEN = tuple(sys.argv[1].split(","))
lean = lean_import.import_mlflow_client()
loaded = {name: name in sys.modules for name in ("mlflow.tracking", *lean_import.HIDDEN)}
import pandas  # hidden only while MLflow imported: a later import imports it as usual
print(json.dumps({"lean": lean, "loaded": loaded, "pandas_after": pandas.DataFrame({"a": [1]}).shape == (1, 1)}))
"""


def _probe(hidden: str) -> dict[str, object]:
    p = subprocess.run([sys.executable, "-c", PROBE, hidden], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_mlflow_imports_its_client_without_the_dataframe_libraries() -> None:
    out = _probe(",".join(HIDDEN))
    # False here: this MLflow needs pandas at import, and every sweep's writer pays ~0.8 CPU-s again
    assert out["lean"] is True, out
    assert out["loaded"] == {"mlflow.tracking": True, "pandas": False, "pyarrow": False}, out
    assert out["pandas_after"] is True, out


def test_an_mlflow_that_needs_what_is_hidden_is_imported_whole() -> None:
    # `mlflow/__init__` imports `mlflow.version` unconditionally: hiding it stands for a future MLflow
    # that needs pandas at import
    out = _probe("mlflow.version")
    assert out == {"lean": False, "loaded": {"mlflow.tracking": True, "mlflow.version": True},
                   "pandas_after": True}, out

