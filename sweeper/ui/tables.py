"""Plain text tables for the CLI."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence


def table(header: Sequence[str], rows: list[Sequence[str]], echo: Callable[[str], None] = print,
          right: Collection[int] = ()) -> None:
    """Columns padded to their widest cell, two spaces apart; the columns at the indexes in `right`
    (numbers) are right-aligned, header included, so their digits line up."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        echo("  ".join(cells).rstrip())


def number(value: float | int | None, missing: str = "-") -> str:
    """A number as the tables show it: a float at 6 significant digits, an int whole, `missing` for none."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
