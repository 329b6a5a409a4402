"""The measuring time of a survey row over every attempt at it.

A row records how long its measurements took, and the survey's time left and its
report's cost are computed from those times. A robust architecture can take hours
(AutoAttack), and a session's end kills the attempt: the next attempt resumes the
retraining and the attack from their checkpoints, so its own clock alone would leave the
killed attempts' hours out of the row. The attempt therefore keeps its running total
in a small file beside the architecture's models, rewritten every ``every`` seconds
(a kill loses at most that much), which the next attempt reads back.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import TracebackType

from neronet.store import atomic_write

CLOCK_FILE = "measuring-seconds.json"
EARLIER = "earlier_attempts"
"""The row's ``seconds`` part for the attempts a kill cut short."""


class AttemptClock:
    """``with AttemptClock(path) as clock``: ``clock.earlier`` is what the attempts before
    this one spent (0 for the first; an unreadable file counts as none, since losing a
    number of seconds must not stop a survey), and while the block runs the file holds
    ``earlier`` plus this attempt's time so far (to the second when the block ends in an
    error: a stop, or a job deferred to be measured again)."""

    def __init__(self, path: Path, every: float = 30.0) -> None:
        self.path = path
        self.every = every
        self.earlier = _read(path)
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="attempt-clock", daemon=True)

    def __enter__(self) -> AttemptClock:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if error is not None:  # the next attempt's ``earlier``: up to now, not the last tick
            self.save()

    def save(self) -> None:
        """Write the total so far (``earlier`` and this attempt's)."""
        total = self.earlier + time.monotonic() - self._began
        atomic_write(self.path, json.dumps({"seconds": total}).encode())

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.save()


def _read(path: Path) -> float:
    try:
        seconds = float(json.loads(path.read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    return seconds if seconds > 0 else 0.0
