"""Serving the page: check where it may listen, bind the socket, print the URL, run uvicorn."""

from __future__ import annotations

import socket
from collections.abc import Callable

from crmsync.errors import CrmsyncError
from crmsync.ui.security import ACCESS_ENV, check_binding


def url_of(host: str, port: int) -> str:
    """The page's address as a person types it (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0 picks a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise CrmsyncError(f"cannot listen on {url_of(host, port)}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, token: str | None, announce: Callable[[str], None] = print) -> None:
    """Run the page until Ctrl-C; refuses (UnsafeBinding) to listen beyond loopback without a token."""
    check_binding(host, token)
    import uvicorn

    from crmsync.ui.app import create_app

    sock = bind(host, port)
    url = url_of(host, sock.getsockname()[1])
    app = create_app(access_token=token, host=host)
    announce(f"Serving the configuration page at {url} (Ctrl-C to stop)")
    if token:
        announce(f"It asks for the access token in {ACCESS_ENV}.")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
