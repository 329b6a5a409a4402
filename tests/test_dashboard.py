"""``neronet dashboard`` without a browser: its JSON over runs, studies and a Pareto search
(stub evaluations, no training), the confinement of its URLs, the last good state over a
damaged database, and its command line. The page itself is driven in a real browser by
tests/test_dashboard_browser.py."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_search import SMALL, StubExecutor

from neronet.cli import main
from neronet.config import grammar_text, load_config
from neronet.dashboard import Dashboard
from neronet.search.runner import SearchRun
from neronet.search.study import open_study, run_study
from neronet.store import RunStore

PARETO = [
    "search.strategy=nsga2",
    "search.objective=pareto",
    "fitness.pareto=[{metric: clean_accuracy, goal: max}, {metric: adversarial_accuracy, "
    "goal: max}]",
]


def _search(path: Path, *overrides: str) -> None:
    config = load_config(None, [*SMALL, "search.generations=3", *overrides])
    text, name = grammar_text(config)
    run = SearchRun.open(config, text, name, path)
    try:
        run.run(StubExecutor())
    finally:
        run.store.close()


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished run, a two-run study and a Pareto run, evaluated by the stub."""
    root = tmp_path_factory.mktemp("dashboard")
    _search(root / "run")
    _search(root / "pareto", *PARETO)
    config = load_config(None, [*SMALL, "search.generations=3"])
    text, name = grammar_text(config)
    run_study(open_study(root / "study", config, text, name, 2), lambda config: StubExecutor())
    return {"run": root / "run", "study": root / "study", "pareto": root / "pareto"}


@pytest.fixture(scope="module")
def served(searches: dict[str, Path]) -> Iterator[Dashboard]:
    with Dashboard([searches["run"], searches["study"], searches["pareto"]]) as dashboard:
        yield dashboard


def get(dashboard: Dashboard, path: str, host: str | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    _, _, address = dashboard.url.rstrip("/").partition("//")
    name, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(name, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def state(dashboard: Dashboard, source: int) -> dict[str, Any]:
    status, body = get(dashboard, f"/api/state?source={source}")
    assert status == 200
    return json.loads(body)


def test_a_run_as_json_matches_its_store(served: Dashboard, searches: dict[str, Path]) -> None:
    store = RunStore.open(searches["run"], readonly=True)
    rows, best = store.individuals(), store.best()
    store.close()
    view = state(served, 0)
    assert view["kind"] == "run" and len(view["runs"]) == 1
    run = view["runs"][0]
    assert [r["id"] for r in run["individuals"]] == [r.id for r in rows]
    assert run["best"] == best.id and len(run["generations"]) == 3
    progress = run["progress"]
    assert progress["state"] == "finished" and progress["individuals"] == len(rows)
    assert progress["planned"] == len(rows)  # the strategy's own total: nothing left
    assert progress["eta_s"] is None
    assert run["pareto"] is None and run["ras"] is None


def test_a_study_shows_every_run_and_the_curves_across_them(served: Dashboard) -> None:
    view = state(served, 1)
    assert view["kind"] == "study" and [r["label"] for r in view["runs"]] == ["run-0", "run-1"]
    (curves,) = view["curves"]
    assert curves["runs"] == 2 and curves["fitness"]["generations"] == [0, 1, 2]
    assert curves["fitness"]["counts"] == [2, 2, 2]
    per_run = [r["generations"][0]["best"] for r in view["runs"]]
    assert curves["fitness"]["mean"][0] == pytest.approx(sum(per_run) / 2)


def test_a_pareto_run_has_its_front(served: Dashboard) -> None:
    (run,) = state(served, 2)["runs"]
    assert run["pareto"]["names"] == ["clean_accuracy", "adversarial_accuracy"]
    assert run["pareto"]["front"] == run["generations"][-1]["elites"]
    assert run["hypervolume"] is True


def test_an_individual_has_its_diagram_and_learning_unit(served: Dashboard) -> None:
    status, body = get(served, "/api/individual?source=1&run=1&id=0")
    assert status == 200
    detail = json.loads(body)
    assert detail["svg"].startswith("<svg") and "input 1" in detail["svg"]
    assert "optimizer=" in detail["learning"] and detail["history"]
    assert get(served, "/api/individual?source=1&run=1&id=999")[0] == 404
    assert get(served, "/api/individual?source=1&run=7&id=0")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/app.js/../../../../etc/passwd",
        "//etc/passwd",
        "/static/../../pyproject.toml",
        "/api/state?source=../../etc/passwd",
        "/api/individual?source=0&run=../..&id=0",
        "/api/state?source=-1",
        "/api/state?source=9",
    ],
)
def test_no_url_reads_a_file(served: Dashboard, path: str) -> None:
    status, body = get(served, path)
    assert status in (400, 404) and b"root:" not in body and b"[project]" not in body


def test_no_url_reads_a_served_directory_s_files(
    served: Dashboard, searches: dict[str, Path]
) -> None:
    database = searches["run"].resolve() / "run.sqlite"
    for path in (str(database), f"/..{database}", "/run/run.sqlite", "/run.sqlite"):
        status, body = get(served, path)
        assert status == 404 and b"SQLite format" not in body


def test_only_loopback_host_names_when_bound_to_loopback(served: Dashboard) -> None:
    assert get(served, "/", host="attacker.example:80")[0] == 403
    assert get(served, "/", host="localhost")[0] == 200


def test_a_damaged_database_shows_the_last_good_state(searches: dict[str, Path]) -> None:
    run = searches["run"].parent / "damaged"
    shutil.copytree(searches["run"], run)
    with Dashboard([run]) as dashboard:
        good = state(dashboard, 0)["runs"][0]
        database = run / "run.sqlite"
        intact = database.read_bytes()
        database.write_bytes(b"half-written" * 100)  # a changed file: read again, and fails
        stale = state(dashboard, 0)["runs"][0]
        assert "last good state" in stale["stale"]
        assert stale["individuals"] == good["individuals"]
        database.write_bytes(intact)
        assert state(dashboard, 0)["runs"][0]["stale"] is None


def test_a_path_without_a_search_yet_is_waiting_then_shows_it(tmp_path: Path) -> None:
    run = tmp_path / "later"
    with Dashboard([run]) as dashboard:
        assert state(dashboard, 0)["kind"] == "waiting"
        _search(run)
        view = state(dashboard, 0)
        assert view["kind"] == "run" and view["runs"][0]["progress"]["state"] == "finished"


def test_cli_refuses_what_is_not_a_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["dashboard", "--help"])
    assert info.value.code == 0 and "--host" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    for argv, needle in (
        (["dashboard", str(tmp_path / "file")], "is a file"),
        (["dashboard", str(tmp_path / "other")], "is not a run, study, experiment or survey"),
        (["dashboard", str(tmp_path / "new"), "--port", "70000"], "--port 70000"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_a_logs_last_line_is_read_from_its_tail(tmp_path: Path) -> None:
    """``neronet status`` and the dashboard read a log's last line from its end (a
    survey's progress log grows for hours): right for a log longer than the tail read,
    for one shorter, and None without a log or a line."""
    from neronet.reports.status import LOG_TAIL, last_line

    log = tmp_path / "progress.log"
    assert last_line(log) is None
    log.write_text("")
    assert last_line(log) is None
    log.write_text("only line\n")
    assert last_line(log) == "only line"
    lines = [f"line {i} " + "x" * 50 for i in range(LOG_TAIL // 10)]
    log.write_text("\n".join(lines) + "\n")
    assert log.stat().st_size > 2 * LOG_TAIL and last_line(log) == lines[-1]


def test_a_survey_shows_its_progress_correlations_and_latest_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A survey directory: its progress line, the correlations of the rows so far
    (computed again when a row is added) and the newest rows first."""
    from neronet.survey.store import Record, SurveyStore

    survey = tmp_path / "survey"
    store = SurveyStore.open(survey, {"seed": 0})

    def add(index: int, fitness: float, final: float) -> None:
        metrics = {"nero_net_fitness": fitness, "final_autoattack": final, "final_clean": 0.8}
        store.add(Record(index, "random", ("random",), "{}", "ok", None, metrics, {"search": 3.0}))

    for i in range(3):
        add(i, 0.1 * i, 0.2 * i)
    (survey / "survey.log").write_text(
        "2026 start\n2026 [3/9] arch 2 ... (3 s, about 1m 00s left)\n"
    )
    for index, line in ((2, "done long ago"), (11, "AutoAttack square: 0/1 batches"), (4, "x")):
        (survey / "models" / f"arch-{index}").mkdir(parents=True)
        (survey / "models" / f"arch-{index}" / "progress.log").write_text(f"start\n{line}\n")
    with Dashboard([survey]) as dashboard:
        view = state(dashboard, 0)
        assert view["kind"] == "survey" and view["runs"] == [] and view["error"] is None
        progress, begun, ranks, latest = view["tables"]
        assert progress["rows"] == [["3", "3 ok", "2026 [3/9] arch 2 ... (3 s, about 1m 00s left)"]]
        assert begun["rows"] == [["4", "x"], ["11", "AutoAttack square: 0/1 batches"]]
        fitness = next(r for r in ranks["rows"] if r[0].startswith("NERO-Net fitness"))
        assert fitness[1:3] == ["3", "1.00 [no interval]"]
        assert [r[0] for r in latest["rows"]] == ["2", "1", "0"]
        assert latest["rows"][0][3:] == ["-", "-", "0.200", "0.800", "-", "0.400", "3"]
        add(3, 0.0, 0.9)  # a row against the ranking: the correlations follow
        fitness = next(r for r in state(dashboard, 0)["tables"][2]["rows"] if r[0] == fitness[0])
        assert fitness[1] == "4" and not fitness[2].startswith("1.00")
    store.close()
    assert main(["dashboard", str(survey), "--port", "70000"]) == 2  # accepted up to the port
    assert "--port 70000" in capsys.readouterr().err
