"""The example Flask app (examples/flask_app) in a real headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package. Without
them the test skips with the install hint, except when ``CI`` is set, where it fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from werkzeug.serving import make_server

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flask_app" / "app.py"
INSTALL_HINT = (
    "the browser test needs Chromium, its WebDriver and selenium: "
    "apt-get install -y chromium chromium-driver && pip install selenium"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _missing(what: str) -> NoReturn:
    message = f"{what} not found; {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cacheops_flask_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The example app on its embedded defaults, served on a free loopback port."""
    for name in list(os.environ):
        if name.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.iron.json either
    monkeypatch.chdir(tmp_path)
    app = _load_example().create_app({"EXAMPLE_COMPUTE_SECONDS": 0.05})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven by selenium through Debian's chromedriver."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None:
        _missing("chromium")
    if driver_path is None:
        _missing("chromedriver (Debian package chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="cacheops-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # A driver path given here means selenium never runs Selenium Manager (no downloads).
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    text: str = driver.find_element(By.ID, element_id).text
    return text


def test_the_example_app_in_a_browser(example_url: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    # The report is computed once, then served from the cache.
    browser.get(f"{example_url}/")
    computed_at = _text(browser, "computed-at")
    assert _text(browser, "computation") == "1"
    assert _text(browser, "location") == "memory://"
    browser.refresh()
    assert _text(browser, "computed-at") == computed_at
    assert _text(browser, "computation") == "1"

    # The stats page shows the hit rate: one miss, then one hit.
    browser.find_element(By.LINK_TEXT, "Cache stats").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Cache stats"))
    assert re.fullmatch(r"\d+\.\d%", _text(browser, "hit-rate"))
    assert _text(browser, "hit-rate") == "50.0%"
    assert _text(browser, "items") == "1"

    # The flush button empties the cache through the admin; the report is recomputed.
    browser.find_element(By.ID, "flush").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.ID, "flushed"))
    )
    assert _text(browser, "items") == "0"
    browser.get(f"{example_url}/")
    assert _text(browser, "computation") == "2"
    assert _text(browser, "computed-at") != computed_at
    browser.refresh()
    assert _text(browser, "computation") == "2"
