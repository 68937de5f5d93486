"""The web application: the configuration page's routes behind the guard (see ``security``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from crmsync.store import Store
from crmsync.ui import routes
from crmsync.ui.runs import Runs
from crmsync.ui.security import LOGIN_COOKIE, Guard, host_allowed
from crmsync.ui.views import Views

STATIC_DIR = Path(__file__).parent / "static"
PUBLIC_PATHS = ("/login", "/static/")  # reachable before logging in

SECURITY_HEADERS = {
    # Scripts and styles only from this server's own files; no framing, no foreign form targets.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class LazyStore:
    """One Store for the process, opened on first use (so the app starts without a database)."""

    def __init__(self, url: str | None = None) -> None:
        self._url, self._store = url, None

    def __call__(self) -> Store:
        if self._store is None:
            self._store = Store(self._url)
        return self._store


def create_app(
    access_token: str | None = None, host: str = "127.0.0.1", database_url: str | None = None
) -> FastAPI:
    """The configuration page as an ASGI app; ``access_token`` is required from every client if set."""
    app = FastAPI(title="crmsync", docs_url=None, redoc_url=None, openapi_url=None)
    guard = Guard(access_token)
    open_store = LazyStore(database_url)
    app.state.guard, app.state.bound_host, app.state.open_store = guard, host, open_store
    app.state.runs = Runs(open_store)
    app.state.views = Views(guard, app.state.runs)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes.router)

    @app.exception_handler(routes.Refused)
    async def refuse(_request: Request, _exc: routes.Refused) -> Response:
        return app.state.views.message(
            "Refused",
            "The form's security token is missing or not valid, so nothing was changed. "
            "Reload the page and try again.",
            403,
        )

    @app.middleware("http")
    async def guard_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        views: Views = app.state.views
        if not host_allowed(request.headers.get("host", ""), host):
            response: Response = views.message(
                "Refused", "This page only answers to a loopback host name (127.0.0.1 or localhost).", 400
            )
        elif not request.url.path.startswith(PUBLIC_PATHS) and not guard.authorized(
            request.cookies.get(LOGIN_COOKIE), request.headers.get("authorization")
        ):
            response = (
                RedirectResponse("/login", status_code=303)
                if request.method == "GET"
                else views.message("Not logged in", "Log in with the access token first.", 401)
            )
        else:
            response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    return app
