"""MLflow behind one package: the run layout (layout.py), the writer process that batches and
rides out outages (writer.py), rebuilding runs from the study (sync.py), finding runs (lookup.py),
and the driver-facing `MlflowTracker` (tracker.py). Nothing outside this package imports mlflow."""

from .lookup import child_run_id, tracking_uri, ui_hint
from .tracker import MlflowTracker

__all__ = ["MlflowTracker", "child_run_id", "tracking_uri", "ui_hint"]
