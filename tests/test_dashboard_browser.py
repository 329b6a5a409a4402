"""The dashboard in a real browser (Debian's chromium, driven by Selenium through the system
chromedriver; nothing is downloaded): a real tiny search started after the page opened
shows its individuals as they are written, a click shows an individual's diagram, and a
study's page shows its runs and the curves across them.

Every wait is for something seen in the page (WebDriverWait on the DOM); its timeout
only turns "never happened" into a failure. The page redraws a panel whenever the state it
polls changes, so an element found may be replaced before it is read: every read and
click is done inside a wait that retries on a stale element, never on one found earlier.
Without chromium the test is skipped with a reason, except in CI (``CI`` set), where it
fails: CI must run it (``.ci/run`` installs the browser).
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


def _text(driver: Any, selector: str) -> str:
    return str(driver.find_element("css selector", selector).text)


def _text_with(driver: Any, selector: str, part: str) -> str | None:
    """The element's text once it holds ``part`` (None before: the wait goes on)."""
    text = _text(driver, selector)
    return text if part in text else None


def _click(driver: Any, selector: str) -> bool:
    driver.find_element("css selector", selector).click()
    return True


def test_a_live_search_a_click_and_a_study(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    # a redraw between finding an element and reading it makes it stale: read it again
    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))
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
        wait.until(lambda d: "waiting for a search" in _text(d, "#problem"))
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
        wait.until(lambda d: _click(d, "#individuals tbody tr[data-id='0']"))
        diagram = wait.until(lambda d: _text(d, "#detail .diagram svg"))
        assert "input 1" in diagram and "individual 0" in diagram
        assert "optimizer=" in wait.until(lambda d: _text(d, "#detail"))

        wait.until(lambda d: _click(d, ".source-tab[data-index='1']"))
        wait.until(lambda d: len(d.find_elements("css selector", ".run-card")) == 2)
        labels = wait.until(
            lambda d: [c.text.split()[0] for c in d.find_elements("css selector", ".run-card")]
        )
        assert labels == ["run-0", "run-1"]
        assert "mean ± std of 2 runs" in wait.until(lambda d: _text(d, ".chart .legend"))
        assert _rows(driver) == 2 * 8  # both runs' individuals, in one table

        # a survey: its tables only, no run panels
        wait.until(lambda d: _click(d, ".source-tab[data-index='2']"))
        tables = wait.until(lambda d: _text_with(d, "#tables", "against the final AutoAttack"))
        assert tables.startswith("Survey") and "0.500" in tables
        # a wait returns only a truthy value: the flag is read inside a one-item list
        assert not wait.until(
            lambda d: [d.find_element("id", "individuals-section").is_displayed()]
        )[0]
