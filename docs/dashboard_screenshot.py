"""Take the README's dashboard screenshot (docs/dashboard.png) on a real run.

    neronet evolve --run runs/shot search.generations=4
    python docs/dashboard_screenshot.py runs/shot docs/dashboard.png

Opens ``neronet dashboard RUN`` in the system's chromium (neronet.dashboard.browser),
clicks the run's best individual so its diagram shows, and saves the page as a PNG
with a reduced palette (small enough to commit).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from selenium.webdriver.support.ui import WebDriverWait

from neronet.dashboard import Dashboard
from neronet.dashboard.browser import headless_chromium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    driver = headless_chromium(1280, 1900)
    try:
        with Dashboard([args.run]) as dashboard:
            driver.get(dashboard.url)
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.find_element("css selector", "#individuals tbody tr"))
            driver.execute_script("select(0, ui.state.runs[0].best)")  # as a click, unscrolled
            wait.until(lambda d: d.find_element("css selector", "#detail .diagram svg"))
            driver.execute_script("window.scrollTo(0, 0)")
            png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
