"""The sweep's state, which is the truth: an Optuna study behind SQLAlchemy.

attrs.py names everything sweeper writes into a study; store.py opens storages and studies and
reads them back; coordination.py holds leases, orphaned trials and the budget drivers share;
optuna_private.py is the one adapter over Optuna's private API (a read cache).
"""
