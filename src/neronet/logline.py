"""One line of a plain-text log (an experiment's, a survey's, a surveyed architecture's
progress): time-stamped and flushed at once, so the log of a command killed at any
moment is whole up to its last line and can be followed with ``tail -f``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TextIO

STAMP = "%Y-%m-%d %H:%M:%S"
"""The local time in front of each line (19 characters)."""


def append_line(log: TextIO, line: str) -> None:
    """Write ``line`` to the open ``log`` with the local time in front, and flush."""
    log.write(f"{time.strftime(STAMP)} {line}\n")
    log.flush()


def line_time(line: str) -> datetime | None:
    """When :func:`append_line` wrote ``line`` (None: a line without its time stamp)."""
    try:
        return datetime.strptime(line[:19], STAMP)
    except ValueError:
        return None
