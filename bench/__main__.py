"""``make bench``: crmsync and dlt side by side against one HubSpot sandbox (``bench.vs_dlt``).

``make bench-full`` adds crmsync's in-process pull, no-change and push timings for both CRMs
against the optimum number of API calls (``bench.pull_push``, the earlier ``make bench``) and
the profile of where crmsync's time goes (``bench.profile``). ``BENCH_ONLY=pull_push`` or
``BENCH_ONLY=all`` picks what this module runs.
"""

from __future__ import annotations

import os
import time

from bench import pull_push, vs_dlt


def main() -> None:
    started = time.perf_counter()
    only = os.environ.get("BENCH_ONLY") or "vs_dlt"
    if only in ("vs_dlt", "all"):
        vs_dlt.main()
    if only in ("pull_push", "all"):
        print("\ncrmsync flows in-process (pull, no change, push) against the optimum API calls:")
        pull_push.main()
    print(f"\nbench ({only}): {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
