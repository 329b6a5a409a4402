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
    reporter._emit("[bold]gen 0 of 0-0 done[/]: parent id 3")
    reporter.stop()
    log = (tmp_path / "run.log").read_text()
    assert "gen 0 of 0-0 done: parent id 3" in log and "[bold]" not in log
    assert "gen 0 of 0-0 done" in out.getvalue()


def test_the_plan_warns_when_a_gpu_sized_setup_runs_on_a_cpu() -> None:
    from neronet.config import NeroConfig, load_config
    from neronet.progress import search_plan

    paper = NeroConfig()  # 600 s per individual, no epoch cap
    lines = search_plan(paper, 401, "cpu")
    assert "401 evaluations on cpu" in lines[0] and "66.8 h" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("warning: this is a GPU-sized setup")
    assert len(search_plan(paper, 401, "cuda")) == 1
    quick = load_config(None)  # the quickstart: epoch-capped
    assert (
        len(search_plan(quick, 25, "cpu")) == 1
        and "8 epochs or" in search_plan(quick, 25, "cpu")[0]
    )
