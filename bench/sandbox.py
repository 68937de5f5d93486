"""The HubSpot sandbox in a process of its own, for benchmarks that time other processes.

``crmsync.sandbox`` serves from a thread of the process that starts it. A benchmark that ran
the sandbox in its measuring process would have the sandbox and the measured code take turns
on one GIL; here the sandbox is a separate process (``python -m bench.sandbox``) and the
benchmark reads its per-endpoint counters over HTTP (``/__sandbox__/stats``; DELETE resets).

One addition, local to the benchmark: ``GET /crm/v3/objects/{type}?associations=companies``.
HubSpot's v3 list endpoint returns each record's associated ids in ``associations``; the
sandbox's list route ignores the parameter. ``BenchHubSpotApp`` wraps the list routes to add
them in HubSpot's shape, so a generic REST client (dlt) can pull contacts with their company
the way it would from HubSpot. crmsync itself never calls the list endpoint with associations
(it reads them with the v4 batch API), so this changes nothing for it.
"""

# ruff: noqa: S603, S310 - runs this repository's own commands; loopback URLs only

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _bench_app_class() -> type:
    from crmsync.sandbox.http import Request
    from crmsync.sandbox.hubspot.app import HubSpotApp
    from crmsync.sandbox.hubspot.associations import PRIMARY, UNLABELED
    from crmsync.sandbox.hubspot.schema import ALIASES, ASSOCIATION_TYPES, OBJECT_TYPES
    from crmsync.sandbox.hubspot.wire import query_list

    def type_name(from_type: str, to_type: str) -> str:
        return f"{OBJECT_TYPES[from_type].singular.lower()}_to_{OBJECT_TYPES[to_type].singular.lower()}"

    class BenchHubSpotApp(HubSpotApp):
        """The sandbox with HubSpot's ``associations=`` on the v3 list endpoint."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            for i, (method, pattern, label, fn) in enumerate(self.routes):
                if label.startswith("list:"):
                    self.routes[i] = (method, pattern, label, self._with_associations(label[5:], fn))

        def _with_associations(self, from_type: str, listing: Callable[[Request], Any]) -> Callable:
            def handler(request: Request) -> Any:
                with self._data_lock:
                    body = listing(request)
                    wanted = [ALIASES.get(t.lower()) for t in query_list(request, "associations")]
                    for to_type in wanted:
                        if (from_type, to_type) not in ASSOCIATION_TYPES:
                            continue  # HubSpot ignores associations that do not exist
                        ids = [int(r["id"]) for r in body["results"]]
                        live = self.stores[to_type].live
                        found = self.associations.targets(from_type, to_type, ids)
                        for record in body["results"]:
                            results = []
                            for target, flags in sorted(found[int(record["id"])].items()):
                                if target not in live:
                                    continue
                                if flags & PRIMARY:
                                    results.append({"id": str(target), "type": type_name(from_type, to_type)})
                                if flags & UNLABELED:
                                    unlabeled = f"{type_name(from_type, to_type)}_unlabeled"
                                    results.append({"id": str(target), "type": unlabeled})
                            if results:
                                record.setdefault("associations", {})[to_type] = {"results": results}
                    return body

            return handler

    return BenchHubSpotApp


def serve_forever(companies: int, contacts: int, deals: int) -> None:
    """Seed, serve, print one JSON line (url, token, seconds to seed), run until stdin closes."""
    from crmsync.sandbox.http import serve
    from crmsync.sandbox.hubspot.app import DEFAULT_TOKEN

    started = time.perf_counter()
    app = _bench_app_class()(companies=companies, contacts=contacts, deals=deals)
    running = serve(app)
    seeded = time.perf_counter() - started
    print(json.dumps({"url": running.url, "token": DEFAULT_TOKEN, "seed_seconds": seeded}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()  # the parent holds our stdin: when it goes away, so do we
    finally:
        running.stop()


class SandboxProcess:
    """A HubSpot sandbox served by a child process; counters over HTTP."""

    def __init__(self, companies: int, contacts: int, deals: int, python: str = sys.executable):
        self.proc = subprocess.Popen(
            [python, "-m", "bench.sandbox", str(companies), str(contacts), str(deals)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("the sandbox process exited before serving")
        info = json.loads(line)
        self.url: str = info["url"]
        self.token: str = info["token"]
        self.seed_seconds: float = info["seed_seconds"]
        self.pid = self.proc.pid

    @property
    def env(self) -> dict[str, str]:
        return {"HUBSPOT_BASE_URL": self.url, "HUBSPOT_ACCESS_TOKEN": self.token}

    def counters(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/__sandbox__/stats", timeout=10) as r:
            return json.loads(r.read())["counters"]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/__sandbox__/stats", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as r:
            r.read()

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used so far (user + system), from /proc."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("companies", type=int)
    parser.add_argument("contacts", type=int)
    parser.add_argument("deals", type=int)
    args = parser.parse_args()
    threading.current_thread().name = "sandbox-main"
    serve_forever(args.companies, args.contacts, args.deals)


if __name__ == "__main__":
    main()
