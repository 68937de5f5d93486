"""What both sandbox servers share: routing, keep-alive HTTP(S), fault injection, request counters.

Each sandbox is an ``App`` with routes; ``serve()`` runs it on a free loopback port in a
background thread. Tests and benchmarks read ``app.counters`` in-process, or over HTTP from
another process at ``/__sandbox__/stats`` (and set faults at ``/__sandbox__/faults``).
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class HttpError(Exception):
    """Raised by a route to answer with an error status and body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, {"message": f"Invalid JSON: {exc}"}) from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes/str sent as-is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    cut: str = ""  # an injected fault: "reset" (connection dropped mid-body) or "json" (body cut short)


@dataclass
class Faults:
    """Injected faults: every K-th counted request gets a 429 or a 5xx; latency is added to all.

    ``rate_limit_ratio`` / ``error_ratio``: besides, that share of requests, drawn at random from
    ``seed``, gets a 429 / a 5xx (0.3 and 0.05: 30% and 5% of all requests).

    ``cut_every``: every K-th answer of a route whose label starts with ``cut_only`` loses the
    second half of its body, either by a dropped connection (``cut_mode`` "reset": the client
    sees a short read) or by a short but complete answer ("json": the client sees broken JSON).
    """

    rate_limit_every: int = 0
    error_every: int = 0
    latency_ms: float = 0.0
    cut_every: int = 0
    cut_mode: str = "reset"
    cut_only: str = ""
    rate_limit_ratio: float = 0.0
    error_ratio: float = 0.0
    seed: int = 0


Route = tuple[str, re.Pattern[str], str, Callable[[Request], Response | Any]]


class App:
    """A sandbox API: routes, counters, faults. Subclasses add routes in ``__init__``."""

    name = "sandbox"

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.counters: Counter[str] = Counter()
        self.requests: list[tuple[float, str]] = []  # (time.time() on arrival, label) of each counted request
        self.faults = Faults()
        self._lock = threading.Lock()
        self._seen = 0
        self._rng: tuple[int, random.Random] | None = None  # (seed, its generator) for the fault ratios

    def route(self, method: str, pattern: str, label: str, fn: Callable[[Request], Any]) -> None:
        """Register ``fn`` for ``method`` on a path regex; ``label`` names it in the counters."""
        self.routes.append((method, re.compile(f"^{pattern}$"), label, fn))

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()
            self.requests.clear()

    # --- hooks for subclasses -------------------------------------------------------------
    def authenticate(self, request: Request, label: str) -> None:
        """Raise HttpError if the request's credentials are not accepted."""

    def rate_limited(self, request: Request, label: str) -> Response:
        return Response(429, {"message": "rate limited"}, {"Retry-After": "1"})

    def server_error(self, request: Request, label: str) -> Response:
        return Response(503, {"message": "service unavailable"})

    # --- dispatch ---------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/__sandbox__/"):
            return self._control(request)
        for method, pattern, label, fn in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                return self._call(request, label, fn)
        return Response(404, {"message": f"No route for {request.method} {request.path}"})

    def _call(self, request: Request, label: str, fn: Callable[[Request], Any]) -> Response:
        with self._lock:
            self.counters[label] += 1
            self.requests.append((time.time(), label))
            self._seen += 1
            seen = self._seen
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        try:
            self.authenticate(request, label)
            injected = self._injected(seen)
            if injected:
                with self._lock:
                    self.counters[f"{label}:{injected}"] += 1
                return (self.rate_limited if injected == "429" else self.server_error)(request, label)
            result = fn(request)
        except HttpError as exc:
            return Response(exc.status, exc.body, exc.headers)
        response = result if isinstance(result, Response) else Response(200, result)
        return self._maybe_cut(response, label, seen)

    def _injected(self, seen: int) -> str | None:
        """The fault this request gets, if any: "429", "5xx" or None."""
        faults = self.faults
        if faults.rate_limit_every and seen % faults.rate_limit_every == 0:
            return "429"
        if faults.error_every and seen % faults.error_every == 0:
            return "5xx"
        if faults.rate_limit_ratio or faults.error_ratio:
            with self._lock:
                if self._rng is None or self._rng[0] != faults.seed:
                    self._rng = (faults.seed, random.Random(faults.seed))
                roll = self._rng[1].random()
            if roll < faults.rate_limit_ratio:
                return "429"
            if roll < faults.rate_limit_ratio + faults.error_ratio:
                return "5xx"
        return None

    def _maybe_cut(self, response: Response, label: str, seen: int) -> Response:
        """Mark every ``cut_every``-th answer of the ``cut_only`` routes to lose half its body."""
        faults = self.faults
        if faults.cut_every and label.startswith(faults.cut_only) and seen % faults.cut_every == 0:
            with self._lock:
                self.counters[f"{label}:cut"] += 1
            response.cut = faults.cut_mode
        return response

    def _control(self, request: Request) -> Response:
        if request.path == "/__sandbox__/stats":
            if request.method == "DELETE":
                self.reset_counters()
            return Response(200, {"counters": dict(self.counters), "faults": asdict(self.faults)})
        if request.path == "/__sandbox__/faults" and request.method in ("PUT", "POST"):
            self.faults = Faults(**(request.json() or {}))
            return Response(200, asdict(self.faults))
        return Response(404, {"message": "unknown control endpoint"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' sessions expect
    disable_nagle_algorithm = True  # without it each keep-alive response stalls ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the sandbox must not flood test output."""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.app.dispatch(request)
        except Exception as exc:  # a sandbox bug must answer 500, not hang the client
            response = Response(500, {"message": f"sandbox error: {type(exc).__name__}: {exc}"})
        self._send(response)

    def _send(self, response: Response) -> None:
        body = response.body
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body, default=str).encode()
        declared = len(payload)
        if response.cut:
            payload = payload[: len(payload) // 2]
            declared = declared if response.cut == "reset" else len(payload)
        self.send_response(response.status)
        if payload or response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(declared))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        if response.cut == "reset":  # the rest of the body never comes: drop the connection
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: App

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (its timeout, a closed pool) is normal; other errors print as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return
        super().handle_error(request, client_address)


@dataclass
class Running:
    """A sandbox app serving on a loopback port."""

    app: App
    server: _Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: App, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> Running:
    """Serve ``app`` in a daemon thread (port 0 = a free port); HTTPS when ``tls`` is given."""
    server = _Server((host, port), _Handler)
    server.app = app
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    bound_port = server.server_address[1]
    url_host = "localhost" if tls is not None else host  # the CA's certificate names localhost
    # A short poll interval: shutdown() waits up to one interval, and tests stop a sandbox each.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{app.name}-sandbox", daemon=True
    )
    thread.start()
    return Running(app, server, thread, f"{scheme}://{url_host}:{bound_port}")
