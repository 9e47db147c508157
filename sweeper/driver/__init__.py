"""The driver: asks the study for trials, runs them on a backend, tells the study and the trackers.

loop.py is the loop; tasks.py builds what a backend runs; retries.py decides what runs again.
"""

from .loop import Driver, ProgressView, Silent, SweepOutcome

__all__ = ["Driver", "ProgressView", "Silent", "SweepOutcome"]
