"""Keep secrets out of MLflow, the study and the terminal.

A password inside a URL (`postgresql://user:pw@host/db`) is replaced by `***` wherever we print or
store a URL; `${oc.env:VAR}` interpolations are stored unresolved, so their values never leave
the process.
"""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<tail>@)")


def mask(text: str) -> str:
    """Mask every `scheme://user:password@` password in `text`."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***" + m.group("tail"), text)
