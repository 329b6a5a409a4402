"""The search's progress display and run log."""

from __future__ import annotations

import io
import re
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


def test_the_result_line_is_not_glued_to_the_bar_and_a_warmup_only_run_says_so(
    tmp_path: Path,
) -> None:
    """stdout and stderr on one terminal (tmux): the bar is gone before the result prints,
    and a search that never left the warm-up says it searched on clean accuracy only."""
    from test_search import SMALL, StubExecutor

    from neronet.config import grammar_text, load_config
    from neronet.search.runner import SearchRun

    screen = io.StringIO()
    terminal = Reporter(
        Console(file=screen, force_terminal=True, width=100),
        Console(file=screen, force_terminal=True, width=100),
    )
    config = load_config(None, [*SMALL, "search.generations=2", "fitness.warmup_tau=0.99"])
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, tmp_path / "r", reporter=terminal)
    try:
        run.run(StubExecutor())
    finally:
        run.store.close()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    before, found, result = plain.rpartition("done: best id")
    assert found and before.endswith(("\n", "\r"))  # starts a line of its own
    assert "ETA" not in result  # no frame of the bar after the result
    words = " ".join(result.split())  # the terminal wraps the long paths wherever they fall
    assert "note: the warm-up never ended" in words and "neronet dashboard" in words


def test_no_warmup_over_after_the_last_generation(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from neronet.search.base import GenerationSummary

    out = io.StringIO()
    reporter = Reporter(Console(file=out, width=120))
    reporter.start(total=4, generations=2, directory=tmp_path, measurements=("clean",))
    strategy = SimpleNamespace(objective=SimpleNamespace(describe=lambda: "weighted HRS"))
    for generation in (0, 1):
        summary = GenerationSummary(generation, (0,), 0.5, 0.5, {"switched": True})
        reporter.generation(summary, strategy)  # type: ignore[arg-type]
    reporter.stop()
    assert out.getvalue().count("warm-up over") == 1  # after generation 0 only
