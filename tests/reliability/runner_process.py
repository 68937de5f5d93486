"""A run server for the kill -9 tests: imports crmsync once, then forks one child per ``crmsync`` run.

Started as ``python -m tests.reliability.runner_process`` with the run's environment (store URL,
CRM credentials, PREFECT_API_URL). Each line on stdin is a JSON request ``{"argv": [...],
"fault": "...", "log": "path"}``; the server forks, the child runs ``crmsync <argv>`` exactly as
the CLI does (``crmsync.cli.main``) with its output in ``log``, and the server answers one JSON
line ``{"rc": ..., "counts": {...}}``. Forking spares each run the ~3 s of imports, so one test can
kill many runs. The server itself never runs anything, so it has no threads or connections to
hand down to a child.

Faults (one per run), on top of crmsync's own named crash points (``CRMSYNC_CRASH_AT``):
- ``http:N:before`` / ``http:N:after``: die just before the N-th request to the CRM is sent, or
  just after its answer arrived (the CRM did the work; the run never hears of it);
- ``sql:N:before`` / ``sql:N:after``: die just before / after the N-th SQL statement to the store;
- ``commit:N``: die as the N-th store transaction commits.
Dying is ``os._exit(137)``, as kill -9 leaves it: no cleanup, no rollback but the database's own.
A run that finishes reports how many CRM requests, statements and commits it made, so the test
can draw its random moments from the range a run really has.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from urllib.parse import urlsplit

KILLED = 137


def _crm_ports() -> set[int]:
    ports = set()
    for name in ("HUBSPOT_BASE_URL", "SALESFORCE_INSTANCE_URL"):
        url = os.environ.get(name)
        if url:
            ports.add(urlsplit(url).port or 0)
    return ports


def _arm(fault: str, counts: Counter) -> None:
    """Count CRM requests, statements and commits in this child; die at the one ``fault`` names."""
    import sqlalchemy as sa
    import urllib3.connectionpool

    where, _, rest = fault.partition(":")
    nth, _, when = rest.partition(":")
    target = int(nth) if nth else 0

    def tick(kind: str, moment: str) -> None:
        if where == kind and counts[kind] == target and when in ("", moment):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(KILLED)

    ports = _crm_ports()
    send = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def urlopen(pool, *args, **kwargs):  # the SDKs' one way out (requests and urllib3 alike)
        if pool.port not in ports:
            return send(pool, *args, **kwargs)
        counts["http"] += 1
        tick("http", "before")
        response = send(pool, *args, **kwargs)
        tick("http", "after")
        return response

    urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen

    def before(*_args):
        counts["sql"] += 1
        tick("sql", "before")

    def after(*_args):
        tick("sql", "after")

    def commit(*_args):
        counts["commit"] += 1
        tick("commit", "")

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    sa.event.listen(sa.engine.Engine, "commit", commit)


def _child(request: dict, report_fd: int) -> None:
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.pop("CRMSYNC_CRASH_AT", None)
    fault = request.get("fault") or ""
    counts: Counter = Counter()
    moment = fault.startswith(("http:", "sql:", "commit:"))
    _arm(fault if moment else "", counts)  # always counts; dies only at a moment it is given
    if fault and not moment:
        os.environ["CRMSYNC_CRASH_AT"] = fault
    os.environ.update(request.get("env") or {})
    sys.argv = ["crmsync", *request["argv"]]
    code = 0
    try:
        from crmsync.cli import main

        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # reported as the run's failure, like the CLI would
        print(f"runner_process: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()  # as a process that ends normally does (Prefect sends its last logs)
    os.write(report_fd, json.dumps(dict(counts)).encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve_one(request: dict) -> dict:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(request, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        counts = report.read()
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    return {"rc": rc, "pid": pid, "counts": json.loads(counts) if counts else {}}


def main() -> None:
    # Everything a run imports, once, before any fork (no run has started a thread yet).
    import crmsync.cli.app  # noqa: F401
    import flows.sync  # noqa: F401
    import tasks  # noqa: F401
    from crmsync.connectors import hubspot, salesforce  # noqa: F401

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_serve_one(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
