"""The Sweeper class Hydra instantiates for `hydra/sweeper: sweeper`. Thin: the work is in `_impl`
(imported on first use), so discovering plugins at every app start costs nothing."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class SweeperSweeper(Sweeper):
    """Runs the multirun as one sweeper sweep: a study, asynchronous workers, MLflow runs."""

    def __init__(self, **node: Any) -> None:
        from ._impl import SweeperSweeperImpl

        self.sweeper = SweeperSweeperImpl(node)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.sweeper.sweep(arguments)
