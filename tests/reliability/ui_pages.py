"""The web page as a user meets it: `crmsync ui` in its own process, every page it serves read over HTTP.

``crawl`` follows what the pages themselves offer (links, GET forms once per option, the URL the
pull panel polls), so a new view linked from the page is searched without changing the test;
``unserved_routes`` says which GET routes of the app no fetched URL reached.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.routing import Match

from tests.fixtures.processes import stop
from tests.reliability.helpers import ROOT


class _Targets(HTMLParser):
    """A page's same-site GET targets, and the CSRF token of each POST form by its action."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.csrf: dict[str, str] = {}
        self._form: tuple[str, str] | None = None  # (method, action) of the form being read
        self._select: str | None = None
        self._options: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.urls += [a[key] for key in ("href", "data-url") if key in a]
        if tag == "form":
            self._form, self._options = (a.get("method", "get").lower(), a.get("action", "")), {}
        elif tag == "select" and self._form:
            self._select = a.get("name", "")
            self._options[self._select] = []
        elif tag == "option" and self._select is not None:
            self._options[self._select].append(a.get("value", ""))
        elif tag == "input" and self._form and a.get("name") == "csrf_token":
            self.csrf[self._form[1]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._form:
            method, action = self._form
            if method == "get":
                self.urls.append(action)
                self.urls += [f"{action}?{urlencode({k: v})}" for k, vs in self._options.items() for v in vs]
            self._form = None


def targets(html: str) -> _Targets:
    """Parse a page for what it links to and the tokens of its forms."""
    found = _Targets()
    found.feed(html)
    return found


def as_text(response: httpx.Response) -> str:
    """A response as a client receives it: status line, every header, the body."""
    request, headers = response.request, "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
    return f"{request.method} {request.url} -> {response.status_code}\n{headers}\n\n{response.text}"


def crawl(http: httpx.Client, start: list[str], limit: int = 200) -> dict[str, str]:
    """Every same-site URL reachable by GET from ``start`` (pages only read): URL -> ``as_text``."""
    pages: dict[str, str] = {}
    queue = list(start)
    while queue and len(pages) < limit:
        url = queue.pop(0).partition("#")[0]
        parts = urlsplit(url)
        if not url or parts.netloc or parts.scheme or url in pages:
            continue  # another site (the Prefect UI's links), or an anchor on the same page
        response = http.get(url)
        pages[url] = as_text(response)
        queue += [response.headers["location"]] if response.is_redirect else []
        if response.headers.get("content-type", "").startswith("text/html"):
            queue += targets(response.text).urls
    return pages


def unserved_routes(urls: list[str]) -> list[str]:
    """The page's GET routes (and the static mount) that answered none of ``urls``, in dispatch order.

    The routes come from ``crmsync.ui.routes.router`` as well as the app: FastAPI may keep an
    included router as one opaque entry of ``app.routes``.
    """
    from crmsync.ui import routes as page_routes
    from crmsync.ui.app import create_app

    every = [r for r in create_app().routes if hasattr(r, "path")] + list(page_routes.router.routes)
    gets = [r for r in every if "GET" in (getattr(r, "methods", None) or {"GET"})]
    served = set()
    for url in urls:
        scope = {"type": "http", "method": "GET", "path": urlsplit(url).path, "root_path": ""}
        first = next((r for r in gets if r.matches(scope)[0] is Match.FULL), None)
        served.add(getattr(first, "path", None))
    return [r.path for r in gets if r.path not in served]


def pull_now(http: httpx.Client, integration_path: str, timeout: float = 600) -> dict:
    """Press "Pull now" on the integration's page and poll its status as the page does, to the end."""
    token = targets(http.get(integration_path).text).csrf[f"{integration_path}/pull"]
    started = http.post(f"{integration_path}/pull", data={"csrf_token": token})
    assert started.status_code == 303, as_text(started)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"{integration_path}/pull").json()
        if status["status"] != "running":
            return status
        time.sleep(0.5)
    raise AssertionError(f"the pull started from the page did not end in {timeout} s")


@contextmanager
def ui_server(env: dict[str, str], log: Path, timeout: float = 120) -> Iterator[str]:
    """`crmsync ui --port 0` as a user starts it, its output in ``log``; yields its URL."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crmsync", "ui", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not (found := re.search(r"at (http://\S+/) ", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield found.group(1)
    finally:
        stop(process, timeout=30)
