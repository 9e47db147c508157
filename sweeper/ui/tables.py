"""Plain text tables for the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def table(header: Sequence[str], rows: list[Sequence[str]], echo: Callable[[str], None] = print) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
