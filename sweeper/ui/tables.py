"""Plain text tables for the CLI."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import Any


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


def column(values: Sequence[Any], missing: str = "-") -> list[str]:
    """A column of numbers as people read them: floats at one precision, so the decimal points line
    up (4 significant digits for the smallest), in scientific notation when the column spans more
    than the fixed form shows well; ints whole, anything else as text."""
    floats = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v) and v != 0]
    fmt = "{:.4g}"
    if floats:
        small, big = min(floats), max(floats)
        if small < 1e-4 or big >= 1e7 or big / small >= 1e6:
            fmt = "{:.3e}"
        else:
            decimals = max(0, min(8, 3 - math.floor(math.log10(small))))
            fmt = "{:.%sf}".replace("%s", str(decimals))

    def one(v: Any) -> str:
        if v is None:
            return missing
        if isinstance(v, bool) or not isinstance(v, float):
            return str(v)
        return fmt.format(v) if math.isfinite(v) else str(v)

    return [one(v) for v in values]
