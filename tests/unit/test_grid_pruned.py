"""A grid with early stopping (as W&B allows): a pruned point counts as run, so no trial, agent
or resume runs it again, while a failed one is not retried by the grid either (retries are the
driver's, with the trial's own params)."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from sweeper.search.grid import GRID_ID, make_sampler


def test_a_pruned_point_is_never_handed_out_again() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    space = {"x": [0, 1, 2, 3]}
    st = optuna.create_study(storage=storage, study_name="g", sampler=make_sampler(space, seed=0, storage=storage))
    dist = {"x": CategoricalDistribution([0, 1, 2, 3])}
    first = st.ask(dist)
    st.tell(first, state=TrialState.PRUNED)
    second = st.ask(dist)
    st.tell(second, 1.0)
    rest = [st.ask(dist) for _ in range(2)]  # the two unvisited points, whichever order the seed gives
    trials = st.get_trials(deepcopy=False)
    assert sorted(t.system_attrs[GRID_ID] for t in trials) == [0, 1, 2, 3]
    assert sorted(t.params["x"] for t in trials) == [0, 1, 2, 3]
    assert [t.params["x"] for t in trials[2:]] == [t.params["x"] for t in rest]
