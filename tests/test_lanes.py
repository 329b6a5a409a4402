"""Lanes (``neronet.execution.lanes``): how one stops."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from neronet.errors import StudyError
from neronet.execution.lanes import Handler, run_in_lanes, serve


def _stop_myself(job: int) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the lane")


def _lane(conn: Connection, marker: str) -> None:
    """A lane whose job is stopped by SIGTERM and whose unwinding is sent another one
    (as a group kill, the parent's terminate and its own pipe reader do) before it
    writes ``marker``: the unwinding's last act."""

    @contextlib.contextmanager
    def handler() -> Iterator[Handler]:
        try:
            yield _stop_myself
        finally:
            os.kill(os.getpid(), signal.SIGTERM)
            Path(marker).write_text("unwound")

    serve(conn, handler)


def test_a_lane_stopped_by_sigterm_unwinds_whole_however_many_follow(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "unwound"
    finished = run_in_lanes([0], _lane, [(str(marker),)], name="t", describe=str)
    with pytest.raises(StudyError, match=r"ended without a result \(exit code 143\)"):
        list(finished)
    assert marker.read_text() == "unwound"
    assert "Traceback" not in capfd.readouterr().err
