"""Dialects: the front doors a sweep definition comes through, each translated into the native form.

A dialect recognises its shape in a raw mapping and turns it into a native sweep config (the
keys of `schema.KEYS`); from there one loader composes, validates and builds the `SweepSpec`, so
nothing after the loader knows which door a sweep came through. Adding a dialect (a W&B sweep
file, a Hydra plugin's config) is one class here plus its entry in `DIALECTS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Dialect(ABC):
    """One way of writing a sweep."""

    name: str = ""

    @abstractmethod
    def matches(self, raw: dict[str, Any]) -> bool:
        """Whether `raw` (the file's top-level mapping, unresolved) is written in this dialect."""

    @abstractmethod
    def to_native(self, raw: dict[str, Any], source: str) -> dict[str, Any]:
        """The same sweep as a native config; SpecError (naming `source` and the key) when it cannot be."""


class Native(Dialect):
    """sweeper's own YAML: the keys of the schema, Hydra's defaults list and interpolation."""

    name = "sweeper"

    def matches(self, raw: dict[str, Any]) -> bool:
        return True

    def to_native(self, raw: dict[str, Any], source: str) -> dict[str, Any]:
        return raw


NATIVE = Native()


def _others() -> list[Dialect]:
    from .wandb_sweep import WandbDialect  # after Dialect: it subclasses it

    return [WandbDialect()]


#: the other doors, tried in order; the native dialect takes whatever none of them claims
DIALECTS: list[Dialect] = _others()


def detect(raw: dict[str, Any]) -> Dialect:
    for dialect in DIALECTS:
        if dialect.matches(raw):
            return dialect
    return NATIVE
