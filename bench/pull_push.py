"""Pull, no-change and push timings for each CRM, with API calls against the optimum.

Part of ``make bench`` (``BENCH_RECORDS`` companies per CRM, default 10000). It uses a fresh
SQLite store in a temporary folder and one Prefect ephemeral API for all runs, whose start-up
is reported apart; the phases time the flows themselves, in this process. The sandboxes run
in threads of this process too (sharing its GIL), so these times include serving the API;
``bench.vs_dlt`` runs its sandbox in a process of its own.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    cwd = os.getcwd()
    try:
        _main()
    finally:
        os.chdir(cwd)


def _main() -> None:
    records = int(os.environ.get("BENCH_RECORDS", "10000"))
    home = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
    os.chdir(home)
    os.environ.update(
        CRMSYNC_HOME=str(home / ".crmsync"),
        CRMSYNC_DATABASE_URL=f"sqlite:///{home / 'crmsync.db'}",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    import sqlalchemy as sa

    from crmsync import page
    from crmsync.models import Client
    from crmsync.sandbox import start_sandboxes
    from crmsync.store import Store

    started = time.perf_counter()
    boxes = start_sandboxes(records, 0, 0, ca_file=home / "ca.pem")
    os.environ.update(boxes.env)
    print(f"seeded {records:,} companies per CRM in {time.perf_counter() - started:.1f} s")
    store = Store()
    for kind in ("hubspot", "salesforce"):
        page.connect(store, kind)

    from flows.sync import sync_integration

    started = time.perf_counter()
    from prefect.testing.utilities import prefect_test_harness

    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        print(f"Prefect API start-up: {time.perf_counter() - started:.1f} s")
        reads = {"hubspot": ("search:companies",), "salesforce": ("query", "queryMore")}
        writes = {
            "hubspot": ("batch_upsert:companies", "batch_update:companies"),
            "salesforce": ("collections:upsert", "collections:update"),
        }
        pages = {"hubspot": 200, "salesforce": 2000}
        batches = {"hubspot": 100, "salesforce": 200}
        for kind in ("hubspot", "salesforce"):
            app = boxes.hubspot.app if kind == "hubspot" else boxes.salesforce.app
            phases = [
                ("first pull", records, None),
                ("no change", 0, None),
                ("push 1,000 edits", 1000, "edit"),
            ]
            for phase, volume, action in phases:
                if action == "edit":
                    with store.session() as s:
                        ids = s.exec(sa.select(Client.id).order_by(Client.id).limit(1000)).scalars().all()
                        s.exec(sa.update(Client).where(Client.id.in_(ids)).values(phone="+1-555-999-0000"))
                app.reset_counters()
                t = time.perf_counter()
                result = sync_integration(kind, ["clients"])
                seconds = time.perf_counter() - t
                counts = result["objects"][0]
                read_calls = sum(n for label, n in app.counters.items() if label in reads[kind])
                write_calls = sum(n for label, n in app.counters.items() if label in writes[kind])
                optimum_reads = math.ceil(records / pages[kind]) if phase == "first pull" else 1
                optimum_writes = math.ceil(volume / batches[kind]) if action == "edit" else 0
                rows.append(
                    (kind, phase, seconds, counts, read_calls, optimum_reads, write_calls, optimum_writes)
                )
    boxes.stop()
    header = f"{'crm':<11}{'phase':<18}{'seconds':>8}{'records/s':>11}{'pulled':>8}{'pushed':>8}"
    header += f"{'read calls':>12}{'(optimum)':>10}{'write calls':>12}{'(optimum)':>10}"
    print(header)
    for kind, phase, seconds, counts, reads_n, opt_r, writes_n, opt_w in rows:
        moved = max(counts["extracted"], counts["pushed"])
        print(
            f"{kind:<11}{phase:<18}{seconds:>8.2f}{moved / seconds:>11,.0f}{counts['extracted']:>8,}"
            f"{counts['pushed']:>8,}{reads_n:>12}{opt_r:>10}{writes_n:>12}{opt_w:>10}"
        )


if __name__ == "__main__":
    main()
