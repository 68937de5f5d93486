"""Prefect's local API for CLI commands, started at once and kept warm between commands.

Without a Prefect API configured, Prefect starts a temporary API server the first time a flow
needs one: it imports the server's code into the CLI process (~3 s), then starts the server
and waits for it (5–7 s), one after the other, while the CLI does nothing else, and it stops
the server when the command ends, so the next command pays it all again. Instead, ``start``
launches the same server the same way Prefect does (``prefect.server.api.server:create_app``
under uvicorn, UI and services off, ``PREFECT__SERVER_EPHEMERAL=1``, the same database under
``PREFECT_HOME``) as the command begins, without importing Prefect, so the server boots on the
other core while the CLI imports its libraries and opens the store; ``ready`` waits for it just
before the first flow run.

The server then outlives the command: it serves every later command of the same
``PREFECT_HOME`` and stops itself after ``CRMSYNC_LOCAL_API_IDLE`` seconds (default 600) with
no request in flight and none received, so only the first command of a session pays for the
start. Who serves is recorded in ``PREFECT_HOME/crmsync-local-api.json`` (its process, port,
Prefect version and interpreter); a file lock makes concurrent commands agree on one server,
and the server removes the record under the same lock when it stops, so a command never picks
a server that is about to go. ``CRMSYNC_LOCAL_API_IDLE=0`` keeps the old way: a server per
command that dies with it (also on kill -9: PR_SET_PDEATHSIG).

Nothing changes where an API is configured (``PREFECT_API_URL`` in the environment or in
Prefect's settings files): Prefect is left to read them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from crmsync.errors import CrmsyncError
from crmsync.processes import alive

_SETTINGS_FILES = ("prefect.toml", ".env", "pyproject.toml")
RECORD = "crmsync-local-api.json"  # in PREFECT_HOME: who serves it
_LOCK = "crmsync-local-api.lock"
_LOG = "crmsync-local-api.log"  # the shared server's own errors (uvicorn at level error)
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "VIRTUAL_ENV", "PYTHONPATH", "SSL_CERT_FILE")
_process: subprocess.Popen | None = None


def idle_seconds() -> float:
    """How long the shared local API lives on without requests (0: it stops with the command)."""
    raw = os.environ.get("CRMSYNC_LOCAL_API_IDLE", "600")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise CrmsyncError(f"CRMSYNC_LOCAL_API_IDLE must be a number of seconds, not {raw!r}") from None


def _configured_elsewhere() -> bool:
    """Whether Prefect's own settings may name an API or forbid a temporary one (then it decides)."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_PROFILES_PATH"):
        return True
    if os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true").lower() in ("0", "false", "no"):
        return True
    files = [_home() / "profiles.toml", *(Path.cwd() / name for name in _SETTINGS_FILES)]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "api_url" in text.lower() or "[api]" in text or "tool.prefect" in text:
            return True
    return False


def _home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(shared: bool) -> dict[str, str]:
    """The server's environment: Prefect's settings. A shared server outlives the command that
    started it, so it gets nothing else of that command's environment (no CRM credentials)."""
    base = (
        os.environ
        if not shared
        else {k: v for k, v in os.environ.items() if k in _KEEP_ENV or k.startswith("PREFECT_")}
    )
    if shared:  # ``python -m crmsync.local_api`` runs in PREFECT_HOME: crmsync from where we have it
        source = str(Path(__file__).resolve().parent.parent)
        base["PYTHONPATH"] = os.pathsep.join(p for p in (source, base.get("PYTHONPATH")) if p)
    return {
        **{k: v for k, v in base.items() if k != "PREFECT_API_URL"},
        "PREFECT_HOME": str(_home()),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }


def _launch(port: int, idle: float) -> subprocess.Popen:
    """The server: Prefect's own app under uvicorn; shared (``idle`` > 0) or dying with this process."""
    if idle > 0:
        with (_home() / _LOG).open("wb") as log:
            return subprocess.Popen(  # noqa: S603 - our own interpreter
                [sys.executable, "-m", "crmsync.local_api", str(port), str(idle)],
                env=_server_env(shared=True),
                cwd=_home(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # no terminal signal (Ctrl-C) of the command reaches it
            )
    prefect_dir = Path(find_spec("prefect").submodule_search_locations[0]).parent
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
        command, env=_server_env(shared=False), stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )


def _shared(process: subprocess.Popen) -> bool:
    """Whether ``process`` is the shared server (``_launch`` with an idle time), not the command's own."""
    return process.args[1:3] == ["-m", "crmsync.local_api"]


def _die_with_parent() -> None:
    """In the server's process: get SIGTERM when the CLI dies, even by kill -9 (Linux), so no
    temporary server outlives its command. (atexit, which stops it otherwise, never runs then.)"""
    import ctypes
    import signal
    from contextlib import suppress

    with suppress(OSError, AttributeError):  # not Linux: atexit alone
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """The record's lock: held while a command picks or starts the server, and while it stops."""
    import fcntl

    with (home / _LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _identity() -> dict[str, str]:
    """What a command needs of a shared server: the same Prefect and the same interpreter."""
    return {"prefect": version("prefect"), "python": sys.executable}


def _reusable(home: Path) -> str | None:
    """The API URL of the shared server recorded under ``home`` if it suits this command, else None.

    A server still starting is waited for (its starter waits too). Its health endpoint is asked
    here, under the lock: the request counts as activity, so the server cannot stop for
    idleness between this check and the command's first flow run.
    """
    try:
        record = json.loads((home / RECORD).read_text(encoding="utf-8"))
        pid, port = int(record["pid"]), int(record["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if {k: record.get(k) for k in _identity()} != _identity():
        return None
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + _startup_timeout()
    while alive(pid) and time.monotonic() < deadline:
        if _answers(url):
            return url
        time.sleep(0.05)
    return None  # gone, or never answered: start another


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _startup_timeout() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 180)


def _use(url: str) -> None:
    os.environ["PREFECT_API_URL"] = url
    os.environ["CRMSYNC_LOCAL_PREFECT_API"] = "1"  # ours: not a server the user configured


def start() -> None:
    """Point this command at the local API: the shared one if it is up, else start it now.

    No-op if an API is configured or this command already has one.
    """
    global _process
    if _process is not None or _configured_elsewhere():
        return
    idle = idle_seconds()
    home = _home()
    if idle > 0:
        try:
            home.mkdir(parents=True, exist_ok=True)
            with _locked(home):
                url = _reusable(home)
                if url is None:
                    port = _free_port()
                    _process = _launch(port, idle)
                    url = f"http://127.0.0.1:{port}/api"
                    record = {"pid": _process.pid, "port": port, **_identity()}
                    (home / RECORD).write_text(json.dumps(record), encoding="utf-8")
            _use(url)
            return
        except OSError:
            pass  # PREFECT_HOME not writable: a server of this command's own
    port = _free_port()
    _process = _launch(port, 0)
    _use(f"http://127.0.0.1:{port}/api")
    atexit.register(stop)


def ready() -> None:
    """Wait until the local API answers (no-op without one); a one-line error if it never does."""
    if not os.environ.get("CRMSYNC_LOCAL_PREFECT_API"):
        return
    timeout = _startup_timeout()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process is not None and _process.poll() is not None:
            _restart_if_port_taken()
        if _answers(os.environ["PREFECT_API_URL"]):
            return
        time.sleep(0.05)
    raise CrmsyncError(
        f"Prefect's local API did not answer within {timeout:.0f} s; start a server "
        "(prefect server start) and set PREFECT_API_URL, or raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    )


def _restart_if_port_taken() -> None:
    """The server exits with 3 when the port was taken meanwhile: start again on another (as Prefect does)."""
    global _process
    if _process is None or _process.returncode != 3:
        code = _process.returncode if _process else None
        raise CrmsyncError(f"Prefect's local API exited with code {code} before it answered")
    shared = _shared(_process)
    _process = None
    if shared:
        with _locked(_home()):
            (_home() / RECORD).unlink(missing_ok=True)
        for name in ("PREFECT_API_URL", "CRMSYNC_LOCAL_PREFECT_API"):  # ours: start() must not defer to it
            os.environ.pop(name, None)
        start()
    else:
        port = _free_port()
        _process = _launch(port, 0)
        _use(f"http://127.0.0.1:{port}/api")
    if "prefect.context" in sys.modules:  # Prefect read the old address at import: read it again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def stop() -> None:
    """Stop this command's own server (at exit: after Prefect has sent what it had to send)."""
    global _process
    if _process is None or _shared(_process):
        return  # none, or the shared one: it stops itself when idle
    _process.terminate()
    try:
        _process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _process.kill()
        _process.wait()
    _process = None


# --- the shared server's process: ``python -m crmsync.local_api PORT IDLE_SECONDS`` ------------
def serve(port: int, idle: float) -> None:
    """Serve Prefect's API on ``port`` until ``idle`` seconds pass with no request, then stop
    (removing the record, under its lock, if it still names this process)."""
    import threading

    import uvicorn
    from prefect.server.api.server import create_app

    app = create_app()
    activity = {"last": time.monotonic(), "open": 0}

    async def counted(scope, receive, send):  # noqa: ANN001, ANN202 - the ASGI signature
        if scope["type"] == "lifespan":
            return await app(scope, receive, send)
        activity["open"] += 1  # a websocket (Prefect's events client) counts while it is open
        activity["last"] = time.monotonic()
        try:
            return await app(scope, receive, send)
        finally:
            activity["open"] -= 1
            activity["last"] = time.monotonic()

    server = uvicorn.Server(
        uvicorn.Config(counted, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )

    def idle_stop() -> None:
        home = _home()
        while not server.started and not server.should_exit:  # migrating a new database takes a while
            time.sleep(0.1)
        activity["last"] = time.monotonic()
        while not server.should_exit:
            time.sleep(min(1.0, idle / 4))
            if activity["open"] or time.monotonic() - activity["last"] < idle:
                continue
            with _locked(home):  # a command picking this server holds it and asks /health first
                if activity["open"] or time.monotonic() - activity["last"] < idle:
                    continue
                with contextlib.suppress(OSError, ValueError):
                    if json.loads((home / RECORD).read_text(encoding="utf-8")).get("pid") == os.getpid():
                        (home / RECORD).unlink()
                server.should_exit = True

    threading.Thread(target=idle_stop, name="idle-stop", daemon=True).start()
    with contextlib.suppress(SystemExit):  # uvicorn exits 1 when it cannot bind the port
        server.run()
    if not server.started:
        sys.exit(3)  # the port was taken: the command that started it starts another


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
