"""Failpoints: named places where a crash can be provoked on purpose, so that tests prove what
survives one (e.g. a blob written whose metadata never committed). Inert unless the process
was started with OPENDMP_FAILPOINT=<name>; then reaching that place kills the process at once,
without cleanup, as a power cut would."""

from __future__ import annotations

import os

_ARMED = os.environ.get("OPENDMP_FAILPOINT")


def failpoint(name: str) -> None:
    if name == _ARMED:
        os._exit(137)
