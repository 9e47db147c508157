"""On the PYTHONPATH of a W&B trial only (put there by `sweeper.integrations.wandb_launch`): when the
program imports `wandb`, the real package loads as usual and `wandb_bridge.install` then wraps it.
Nothing is imported here beyond the import machinery, so a program that never imports wandb pays
nothing."""

import importlib.abc
import importlib.util
import sys


class _AfterWandb(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the import protocol's own
        if name != "wandb":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_bridge(module):  # noqa: ANN001, ANN202
            exec_module(module)
            from sweeper.integrations.wandb_bridge import install

            install(module)

        spec.loader.exec_module = exec_and_bridge
        return spec


sys.meta_path.insert(0, _AfterWandb())
