"""Prefect's local (ephemeral) API for one CLI command, started at once instead of on first use.

Without a Prefect API configured, Prefect starts a temporary API server the first time a flow
needs one: it imports the server's code into the CLI process (~3 s), then starts the server
and waits for it (5–7 s), one after the other, while the CLI does nothing else. ``start``
launches the same server the same way Prefect does (``uvicorn`` with
``prefect.server.api.server:create_app``, UI off, ``PREFECT__SERVER_EPHEMERAL=1``, the same
database under ``PREFECT_HOME``) as the command begins, without importing Prefect, so the
server boots on the other core while the CLI imports its libraries and opens the store;
``ready`` waits for it just before the first flow run. The command's flows then run against it
as they would against Prefect's own temporary server, which is stopped when the command exits.

Nothing changes where an API is configured (``PREFECT_API_URL`` in the environment or in
Prefect's settings files): Prefect is left to read them.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.util import find_spec
from pathlib import Path

from crmsync.errors import CrmsyncError

_SETTINGS_FILES = ("prefect.toml", ".env", "pyproject.toml")
_process: subprocess.Popen | None = None


def _configured_elsewhere() -> bool:
    """Whether Prefect's own settings may name an API or forbid a temporary one (then it decides)."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_PROFILES_PATH"):
        return True
    if os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true").lower() in ("0", "false", "no"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    files = [home / "profiles.toml", *(Path.cwd() / name for name in _SETTINGS_FILES)]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "api_url" in text.lower() or "[api]" in text or "tool.prefect" in text:
            return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(port: int) -> subprocess.Popen:
    prefect_dir = Path(find_spec("prefect").submodule_search_locations[0]).parent
    env = {
        **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect_dir),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        command, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )


def _die_with_parent() -> None:
    """In the server's process: get SIGTERM when the CLI dies, even by kill -9 (Linux), so no
    temporary server outlives its command. (atexit, which stops it otherwise, never runs then.)"""
    import ctypes
    import signal
    from contextlib import suppress

    with suppress(OSError, AttributeError):  # not Linux: atexit alone
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def start() -> None:
    """Start Prefect's temporary API now, unless an API is configured or it is already started."""
    global _process
    if _process is not None or _configured_elsewhere():
        return
    port = _free_port()
    _process = _launch(port)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ["CRMSYNC_LOCAL_PREFECT_API"] = "1"  # ours: not a server the user configured
    atexit.register(stop)


def ready() -> None:
    """Wait until the temporary API answers (no-op without one); a one-line error if it never does."""
    if _process is None:
        return
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 180)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process.poll() is not None:
            _restart_if_port_taken()
        try:
            with urllib.request.urlopen(f"{os.environ['PREFECT_API_URL']}/health", timeout=5) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise CrmsyncError(
        f"Prefect's temporary API did not answer within {timeout:.0f} s; start a server "
        "(prefect server start) and set PREFECT_API_URL, or raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    )


def _restart_if_port_taken() -> None:
    """Uvicorn exits with 3 when the port was taken meanwhile: start again on another (as Prefect does)."""
    global _process
    if _process is None or _process.returncode != 3:
        code = _process.returncode if _process else None
        raise CrmsyncError(f"Prefect's temporary API exited with code {code} before it answered")
    port = _free_port()
    _process = _launch(port)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    if "prefect.context" in sys.modules:  # Prefect read the old address at import: read it again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def stop() -> None:
    """Stop the temporary API (at exit: after Prefect has sent what it had to send)."""
    global _process
    if _process is None:
        return
    _process.terminate()
    try:
        _process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _process.kill()
        _process.wait()
    _process = None
