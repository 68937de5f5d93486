"""Fixtures of the web page: the app in-process (HTTP tests), and the real server in a real browser.

The browser is Debian's chromium driven by Playwright. It is never skipped: without
/usr/bin/chromium the browser tests fail and say how to install it.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmsync import page
from crmsync.store import Store
from crmsync.ui.app import create_app
from tests.fixtures.processes import stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture
def store(crmsync_home) -> Store:
    """A fresh store with a connected HubSpot integration named hubspot."""
    store = Store()
    page.connect(store, "hubspot")
    return store


@pytest.fixture
def client(store) -> Iterator[TestClient]:
    """The page in-process, reached as a browser on this machine reaches it."""
    with TestClient(create_app(), base_url="http://127.0.0.1:8787") as http:
        yield http


def csrf_token(html: str, action: str) -> str:
    """The CSRF token of the (first) form that posts to ``action``."""
    found = re.search(
        rf'action="{re.escape(action)}"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', html
    )
    assert found, f"no form posting to {action}"
    return found.group(1)


@pytest.fixture(scope="session")
def ui_prefect_api() -> Iterator[str]:
    """A Prefect API for the server's "Pull now": the session's one if a test already started it."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=600):
        yield PREFECT_API_URL.value()


def _read_url(process: subprocess.Popen, timeout: float) -> str:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            seen.append(line)
            found = re.search(r"at (http://\S+/) ", line)
            if found:
                return found.group(1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"`crmsync ui` did not announce its URL: {''.join(seen)}{process.stderr.read()}")


@pytest.fixture
def ui_server(crmsync_home, ui_prefect_api) -> Iterator[str]:
    """`crmsync ui --port 0` as a user starts it, with the test's environment; its URL."""
    env = {**os.environ, "PREFECT_API_URL": ui_prefect_api}
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield _read_url(process, timeout=60)
    finally:
        stop(process)


@pytest.fixture
def chromium():
    """Debian's chromium under Playwright; fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser tab (its own cookies), sized like a laptop screen."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def screenshot(tab, name: str) -> Path:
    """Save a full-page screenshot under tests/ui/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
