"""What the templates get: the page's data from ``crmsync.page``, plus the choices each form offers.

No rule is decided here: directions, schedules, effective directions and why they are
overridden, retry notes and validation all come from ``crmsync.page`` and ``crmsync.settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from crmsync import page
from crmsync.settings import KINDS, SCHEDULES, ObjectDirection, schedule_label
from crmsync.store import Store
from crmsync.ui.runs import Runs
from crmsync.ui.security import CSRF_FIELD, Guard

TEMPLATES_DIR = Path(__file__).parent / "templates"

# Item 9: the page's functions that would back each link, as the CLI names them (crmsync fields,
# crmsync preview). Until crmsync.page has one, the page says so instead of showing made-up data.
ITEM9 = (
    (
        "Import fields",
        "fields",
        "fetch the CRM's field list (HubSpot properties, Salesforce describe) to map from",
    ),
    (
        "Sync preview",
        "preview",
        "a dry run: what a sync would create, update, skip, reject or flag, writing nothing",
    ),
)

SAVED = {
    "toggle": "Global toggle saved.",
    "object": "Object saved: it now points at the chosen object.",
    "direction": "Sync direction saved.",
    "schedule": "Pull schedule saved. Run `crmsync deploy` to apply it to the Prefect deployments.",
    "pull": "Pull started.",
    "deleted": "Deleted, with its field mappings, links, cursors, quarantine and conflicts.",
}


def make_environment() -> Environment:
    """Jinja with autoescape on for every template: user and CRM strings are never markup."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined, trim_blocks=True
    )


def integration_path(name: str, action: str = "") -> str:
    """The URL path of an integration's page (or of one of its forms), the name percent-encoded."""
    return f"/i/{quote(name, safe='')}" + (f"/{action}" if action else "")


def form_path(name: str, action: str) -> str:
    """The path a form posts to, as the server sees it (decoded): what its CSRF token is bound to."""
    return f"/i/{name}/{action}"


class Views:
    """Renders the pages; holds the template environment, the guard and the runs."""

    def __init__(self, guard: Guard, runs: Runs) -> None:
        self.env = make_environment()
        self.guard, self.runs = guard, runs

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """An HTML page; every page gets the CSRF field name and a token maker."""
        html = self.env.get_template(template).render(
            csrf_field=CSRF_FIELD,
            csrf=self.guard.csrf_token,
            login_required=bool(self.guard.access_token),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def integrations(self, store: Store, saved: str | None = None) -> HTMLResponse:
        """The list of integrations (item 1 for each)."""
        rows = []
        for row in store.settings.integrations():
            try:
                rows.append({**page.page(store, row.name), "error": None})
            except Exception as exc:  # one broken mapping file must not hide the others
                rows.append(
                    {"name": row.name, "header": row.header, "error": str(exc), "enabled": row.enabled}
                )
        return self.render(
            "integrations.html", rows=rows, saved=SAVED.get(saved or ""), path=integration_path
        )

    def integration(
        self, store: Store, name: str, error: str | None = None, saved: str | None = None, status: int = 200
    ) -> HTMLResponse:
        """The configuration page of one integration: items 1-9, pull now, problems, delete."""
        data = page.page(store, name)
        kind = KINDS[data["kind"]]
        run = self.runs.last(name)
        return self.render(
            "integration.html",
            status=status,
            p=data,
            problems=page.problems(store, name),
            external_objects=kind.external_objects,
            directions=[(d.value, d.label(data["header"])) for d in ObjectDirection],
            schedules=[(key, schedule_label(key)) for key in SCHEDULES],
            item9=[(title, cmd, what, callable(getattr(page, cmd, None))) for title, cmd, what in ITEM9],
            run=run.as_dict() if run else None,
            prefect_ui=os.environ.get("PREFECT_API_URL", "").rstrip("/").removesuffix("/api") or None,
            error=error,
            saved=SAVED.get(saved or ""),
            path=lambda action="": integration_path(name, action),
            form=lambda action: form_path(name, action),
        )

    def message(self, title: str, text: str, status: int) -> HTMLResponse:
        """A plain page that explains a refusal or a missing thing."""
        return self.render("message.html", status=status, title=title, text=text)
