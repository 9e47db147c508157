"""Every name sweeper writes into an Optuna study, in one place.

Study user attrs hold the sweep's definition and bookkeeping; trial user attrs hold why a trial
ended as it did and how its attempts chain. These names are a storage format: a study written by
one version is resumed by the next, so a name here never changes meaning.
"""

from __future__ import annotations

# --- study user attrs ---------------------------------------------------------------------------
SPEC = "sweeper.spec"  # the resolved sweep as YAML (secrets masked, interpolations kept)
HASH = "sweeper.hash"  # identity of the definition, budget keys aside: a resume must match it
UID = "sweeper.uid"  # a random id of the sweep, so a tracker finds its runs even if it never saved their ids
STATE = "sweeper.state"  # RUNNING | FINISHED | FAILED | KILLED
WORKDIR = "sweeper.workdir"  # where `sweep launch` ran: a resume runs trials there again
BASE_DIR = "sweeper.base_dir"  # the sweep file's folder: trial.config resolves there
TRACKER_PREFIX = "sweeper.tracker."  # + tracker name + "." + key: what a tracker keeps (its run ids)
LEASE_PREFIX = "sweeper.agent."  # + lease id: a live driver's lease (see coordination.py)
PERIOD_PREFIX = "sweeper.period."  # + lease id: [first, last] epoch second that driver ran (budget.time)
#: the MLflow tracker's parent run id, under the name studies have always used
MLFLOW_PARENT = "sweeper.parent_run_id"

# --- trial user attrs ---------------------------------------------------------------------------
ERROR = "sweeper.error"  # why the trial failed
STOPPED_BY = "sweeper.stopped_by"  # the budget that stopped the trial at a report (it is PRUNED)
INTERRUPTED = "sweeper.interrupted"  # cut off by an interruption: not counted, re-run
RETRY_OF = "sweeper.retry_of"  # the number of the attempt this trial repeats
RETRIED = "sweeper.retried"  # a self-crash that was retried: its retry counts instead
IMPORTED = "sweeper.imported_from"  # "SWEEP#N": a trial copied from sweep SWEEP (warm_start), never run here
SEED_TRIAL = "sweeper.seed_trial"  # the index of the `seed_trials` entry the trial ran
ATTEMPT = "sweeper.attempt"  # 0 for the first attempt, then 1, 2, ...
ATTEMPT_ROOT = "sweeper.root"  # the first attempt's number: names the checkpoint directory
NO_RETRY = "sweeper.no_retry"  # interrupted before it had params of its own: nothing to re-run
