"""The search's progress display and run log."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from neronet.progress import Reporter


def test_progress_total_grows_instead_of_overflowing_and_log_is_plain(tmp_path: Path) -> None:
    out = io.StringIO()
    reporter = Reporter(Console(file=out, force_terminal=True, width=120))
    reporter.start(total=2, generations=1, directory=tmp_path, measurements=("clean",))
    for _ in range(4):  # e.g. two fair retrains beyond the planned count
        reporter._advance()
    progress, task = reporter._progress, reporter._task
    assert progress is not None and task is not None
    done = progress.tasks[task]
    assert (done.completed, done.total) == (4, 4)
    reporter._emit("[bold]gen 1/1 done[/]: parent id 3")
    reporter.stop()
    log = (tmp_path / "run.log").read_text()
    assert "gen 1/1 done: parent id 3" in log and "[bold]" not in log
    assert "gen 1/1 done" in out.getvalue()
