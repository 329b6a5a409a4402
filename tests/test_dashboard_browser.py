"""The dashboard in a real browser (Debian's chromium, driven by Selenium through the system
chromedriver; nothing is downloaded): a real tiny search started after the page opened
shows its individuals as they are written, a click shows an individual's diagram, and a
study's page shows its runs and the curves across them.

Every wait is for something seen in the page (WebDriverWait on the DOM); its timeout
only turns "never happened" into a failure. Without chromium the test is skipped with a
reason, except in CI (``CI`` set), where it fails: CI must run it (``.ci/run`` installs
the browser).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_executors import OVERRIDES
from test_search import StubExecutor

from neronet.config import grammar_text, load_config
from neronet.dashboard import Dashboard
from neronet.dashboard.browser import headless_chromium, missing
from neronet.search.study import open_study, run_study
from neronet.survey.store import Record, SurveyStore

WAIT_S = 120  # only a bound on "never": each wait ends as soon as the page shows it


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {reason}")
        pytest.skip(reason)
    driver = headless_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def _rows(driver: Any) -> int:
    return len(driver.find_elements("css selector", "#individuals tbody tr"))


def test_a_live_search_a_click_and_a_study(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_S)
    run, study = tmp_path / "run", tmp_path / "study"
    config = load_config(None, [*OVERRIDES, "search.generations=3"])
    text, name = grammar_text(config)
    run_study(open_study(study, config, text, name, 2), lambda config: StubExecutor())
    survey = tmp_path / "survey"
    store = SurveyStore.open(survey, {"seed": 0})
    metrics = {"nero_net_fitness": 0.5, "final_autoattack": 0.25}
    store.add(Record(0, "random", ("random",), "{}", "ok", None, metrics, {"search": 1.0}))
    store.close()
    with Dashboard([run, study, survey]) as dashboard:
        driver.get(dashboard.url)
        wait.until(lambda d: "waiting for a search" in d.find_element("id", "problem").text)
        driver.execute_script("window.neverReloaded = true")
        search = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "neronet.cli",
                "evolve",
                "--run",
                str(run),
                *OVERRIDES,
                "search.generations=3",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # individuals appear one after another while the search writes them
            wait.until(lambda d: _rows(d) >= 1)
            first = _rows(driver)
            wait.until(lambda d: _rows(d) > first)
            assert driver.execute_script("return window.neverReloaded") is True
            _, err = search.communicate(timeout=WAIT_S)
            assert search.returncode == 0, err
        finally:
            if search.poll() is None:
                search.kill()
                search.wait()
        wait.until(
            lambda d: (
                d.find_element("css selector", ".run-card").get_attribute("data-state")
                == "finished"
            )
        )
        driver.find_element("css selector", "#individuals tbody tr[data-id='0']").click()
        diagram = wait.until(lambda d: d.find_element("css selector", "#detail .diagram svg"))
        assert "input 1" in diagram.text and "individual 0" in diagram.text
        assert "optimizer=" in driver.find_element("id", "detail").text

        driver.find_element("css selector", ".source-tab[data-index='1']").click()
        wait.until(lambda d: len(d.find_elements("css selector", ".run-card")) == 2)
        labels = [c.text.split()[0] for c in driver.find_elements("css selector", ".run-card")]
        assert labels == ["run-0", "run-1"]
        legend = wait.until(lambda d: d.find_element("css selector", ".chart .legend")).text
        assert "mean ± std of 2 runs" in legend
        assert _rows(driver) == 2 * 8  # both runs' individuals, in one table

        # a survey: its tables only, no run panels
        driver.find_element("css selector", ".source-tab[data-index='2']").click()
        tables = wait.until(
            lambda d: (
                "against the final AutoAttack" in d.find_element("id", "tables").text
                and d.find_element("id", "tables")
            )
        )
        assert tables.text.startswith("Survey") and "0.500" in tables.text
        assert not driver.find_element("id", "individuals-section").is_displayed()
