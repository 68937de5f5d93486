""" "Pull now" from the web page: one run at a time, in a background thread of this process.

The run goes through ``crmsync.page.pull_now``, the same flow ``crmsync sync`` runs. Its
progress (per integration × object and phase) and its result are kept here for the status
endpoint that the page polls.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmsync.errors import CrmsyncError
from crmsync.models import utcnow

if TYPE_CHECKING:
    from crmsync.store import Store


class RunBusy(CrmsyncError):
    """A pull is already running in this process."""


@dataclass
class PullRun:
    """One "Pull now": what it has done so far, and how it ended."""

    integration: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "running"  # running, completed, skipped, failed
    started_at: str = field(default_factory=lambda: utcnow().isoformat(timespec="seconds"))
    finished_at: str | None = None
    steps: dict[str, int] = field(default_factory=dict)  # "hubspot · contacts: pull" -> records
    result: dict[str, Any] | None = None
    message: str | None = None
    flow_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The run as the status endpoint returns it."""
        objects = (self.result or {}).get("objects", [])
        columns = [key for o in objects for key in o if key not in ("object", "external_object", "status")]
        return {
            "id": self.id,
            "integration": self.integration,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "steps": [{"step": step, "records": n} for step, n in self.steps.items()],
            "objects": objects,
            "columns": list(dict.fromkeys(columns)),
            "message": self.message,
            "prefect_url": prefect_run_url(self.flow_run_id),
        }


def prefect_run_url(flow_run_id: str | None) -> str | None:
    """The flow run's page in the Prefect UI, when a Prefect server is configured."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api or not flow_run_id:
        return None
    return f"{api.removesuffix('/api')}/runs/flow-run/{flow_run_id}"


def _current_flow_run_id() -> str | None:
    """The integration flow run that is calling back (progress comes from inside its subflows)."""
    try:
        from prefect.runtime import flow_run

        return flow_run.get_root_flow_run_id()
    except Exception:  # only a link is lost; the run goes on
        return None


class Runs:
    """The pulls started from this process: the one running, and the last one of each integration."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._lock = threading.Lock()
        self._last: dict[str, PullRun] = {}
        self._running: PullRun | None = None

    def last(self, integration: str) -> PullRun | None:
        """The latest pull of ``integration`` started here (running or finished)."""
        return self._last.get(integration)

    def start(self, integration: str) -> PullRun:
        """Start a pull in the background; a second one while one runs raises RunBusy."""
        with self._lock:
            if self._running is not None:
                raise RunBusy(
                    f"a pull of '{self._running.integration}' is still running; wait for it to finish"
                )
            run = self._running = self._last[integration] = PullRun(integration)
        thread = threading.Thread(target=self._run, args=(run,), name=f"pull-{integration}", daemon=True)
        thread.start()
        return run

    def _run(self, run: PullRun) -> None:
        from crmsync import page

        def progress(label: str, phase: str, done: int) -> None:
            step = f"{label}: {phase}"
            run.steps[step] = run.steps.get(step, 0) + done
            if run.flow_run_id is None and os.environ.get("PREFECT_API_URL"):
                run.flow_run_id = _current_flow_run_id()

        try:
            result = page.pull_now(self._open_store(), run.integration, progress=progress)
            run.result, run.flow_run_id = result, result.get("flow_run_id")
            run.message = result.get("message")
            run.status = result["status"]
        except Exception as exc:  # any failure ends the run visibly, never the server
            run.message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            run.status = "failed"
        finally:
            run.finished_at = utcnow().isoformat(timespec="seconds")
            with self._lock:
                self._running = None

    def wait(self, timeout: float) -> None:
        """Block until no pull runs (tests and shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while self._running is not None and time.monotonic() < deadline:
            time.sleep(0.05)
