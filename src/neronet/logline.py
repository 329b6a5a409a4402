"""One line of a plain-text log (an experiment's, a survey's, a surveyed architecture's
progress): time-stamped and flushed at once, so the log of a command killed at any
moment is whole up to its last line and can be followed with ``tail -f``."""

from __future__ import annotations

import time
from typing import TextIO


def append_line(log: TextIO, line: str) -> None:
    """Write ``line`` to the open ``log`` with the local time in front, and flush."""
    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    log.flush()
