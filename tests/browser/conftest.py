"""Pages in a real browser: Playwright driving Debian's Chromium against the app served on loopback.

The app runs in a thread of this process on a database of its own (committed data, outside the per-test rollback),
with CSRF on, as in production. Chromium comes from the system (``apt-get install chromium fonts-noto-cjk``; ``make
test`` installs it when missing); without it these tests fail, they never skip (PITFALLS: browsers).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from crm.extensions import db
from tests.conftest import TEST_PASSWORD, own_database

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SHOTS = Path(os.environ.get("CRM_SCREENSHOTS", "/tmp/crm-screenshots"))


class Site:
    """The served app: its base URL, and a way to put records in its database."""

    def __init__(self, app: Any, url: str) -> None:
        self.app, self.url = app, url

    def run(self, func: Any) -> Any:
        """Call ``func()`` in an app context of the served app and commit."""
        with self.app.app_context():
            result = func()
            db.session.commit()
            return result


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with own_database(tmp_path_factory, "browser", SERVER_NAME=None, WTF_CSRF_ENABLED=True) as app:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Site(app, f"http://127.0.0.1:{server.server_port}")
        finally:
            server.shutdown()
            thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is needed for the browser tests ({CHROMIUM}): apt-get install -y chromium "
                    "fonts-noto-cjk, or set CRM_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def open_page(browser: Browser, *, phone: bool = False) -> tuple[Page, list[str]]:
    """A fresh browser page (phone-sized or desktop) and the list its console errors and CSP violations go to."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE if phone else DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in"


def shot(page: Page, name: str) -> None:
    """Keep a screenshot to look at (CRM_SCREENSHOTS, default /tmp/crm-screenshots)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
