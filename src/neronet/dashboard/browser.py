"""The dashboard in the system's chromium, driven by Selenium (its browser test and the
README's screenshot): Debian's ``chromium`` and ``chromium-driver``, nothing downloaded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMEDRIVER = Path("/usr/bin/chromedriver")


def missing() -> str | None:
    """Why the browser cannot be driven here (None: it can)."""
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if shutil.which("chromium") is None or not CHROMEDRIVER.is_file():
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    return None


def headless_chromium(width: int = 1400, height: int = 1000) -> Any:
    """A headless chromium session (a Selenium WebDriver); quit it when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
