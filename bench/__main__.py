"""``make bench``: crmsync and dlt side by side against one HubSpot sandbox (``bench.vs_dlt``).

``make bench-full`` adds crmsync's in-process pull, no-change and push timings for both CRMs
against the optimum number of API calls (``bench.pull_push``, the earlier ``make bench``) and
the profile of where crmsync's time goes (``bench.profile``), local throughput at 100k records
(``bench.throughput``, target 2) and the 10k/100k/1M pulls with memory sampling (``bench.scale``,
target 5). ``BENCH_ONLY=pull_push``, ``throughput``, ``scale`` or ``all`` picks what this module
runs (``all``: everything but the profile).
"""

from __future__ import annotations

import os
import time

from bench import pull_push, scale, throughput, vs_dlt


def main() -> None:
    started = time.perf_counter()
    only = os.environ.get("BENCH_ONLY") or "vs_dlt"
    if only in ("vs_dlt", "all"):
        vs_dlt.main()
    if only in ("pull_push", "all"):
        print("\ncrmsync flows in-process (pull, no change, push) against the optimum API calls:")
        pull_push.main()
    if only in ("throughput", "all"):
        print()
        throughput.main()
    if only in ("scale", "all"):
        print()
        scale.main()
    print(f"\nbench ({only}): {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
