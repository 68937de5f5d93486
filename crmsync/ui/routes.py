"""The page's routes. GETs only read; every POST checks its CSRF token before anything else.

An action goes through ``crmsync.page`` or the ``Store``, which validate before they write, so a
bad value comes back as the page with the reason shown (status 400) and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from crmsync import page
from crmsync.errors import CrmsyncError
from crmsync.store import UnknownName
from crmsync.ui.security import CSRF_FIELD, LOGIN_COOKIE
from crmsync.ui.views import integration_path

if TYPE_CHECKING:
    from crmsync.store import Store
    from crmsync.ui.views import Views

router = APIRouter()


class Refused(Exception):
    """A POST without a valid CSRF token: answered 403, nothing runs."""


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token proves it came from this page's own form."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str) or not request.app.state.guard.csrf_valid(token, request.url.path):
        raise Refused
    return {key: value for key, value in form.items() if isinstance(value, str) and key != CSRF_FIELD}


Form = Annotated[dict[str, str], Depends(checked_form)]


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise CrmsyncError(f"the form has no value for '{name}'")
    return value


def _store(request: Request) -> Store:
    return request.app.state.open_store()


def _views(request: Request) -> Views:
    return request.app.state.views


def _act(request: Request, name: str, action: Callable[[Store], Any], redirect: str) -> Response:
    """Run an action; a one-line error re-renders the page with the reason and nothing changed."""
    store = _store(request)
    try:
        store.settings.integration(name)
    except UnknownName as exc:
        return _views(request).message("Not found", str(exc), 404)
    try:
        action(store)
    except CrmsyncError as exc:
        try:
            return _views(request).integration(store, name, error=str(exc), status=400)
        except UnknownName:  # e.g. deleted, then its Prefect deployments could not be removed
            return _views(request).message("Not done", str(exc), 400)
    return RedirectResponse(redirect, status_code=303)


def _saved(name: str, item: str, anchor: str = "") -> str:
    return f"{integration_path(name)}?saved={item}{anchor}"


@router.get("/")
def integrations(request: Request, saved: str | None = None) -> Response:
    """The list of integrations."""
    return _views(request).integrations(_store(request), saved)


@router.get("/i/{name:path}/pull")
def pull_status(request: Request, name: str) -> JSONResponse:
    """The latest pull of this integration started here: progress while running, then its result."""
    run = request.app.state.runs.last(name)
    body: dict[str, Any] = run.as_dict() if run else {"integration": name, "status": "none"}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/i/{name:path}/preview")
def preview(request: Request, name: str, cs_object: str | None = None) -> Response:
    """Item 9, sync preview: what a sync would do on each side, as tables; it writes nothing."""
    from crmsync.sync.preview import diff_rows, summary_rows

    try:
        result = page.preview(_store(request), name, cs_object or None)
    except CrmsyncError as exc:
        return _views(request).message("Preview not possible", str(exc), 400)
    counts = ["object", "side", "status", "create", "update", "unchanged", "quarantine", "conflict"]
    rejected = [{"object": o["cs_object"], **r} for o in result["objects"] for r in o["rejected_options"]]
    tables = [
        ("What a sync would do", counts, summary_rows(result)),
        (
            "Field changes (first 50 per object and side)",
            ["object", "side", "change", "record", "field", "old", "new"],
            diff_rows(result),
        ),
        ("Values the CRM's options would reject", ["object", "record", "reason"], rejected),
    ]
    return _item9(request, name, f"{name}: sync preview", tables, "Nothing was written anywhere.")


@router.get("/i/{name:path}/fields")
def import_fields(request: Request, name: str, cs_object: str = "clients") -> Response:
    """Item 9, import: the CRM object's fields from its live API, with their exact-case options."""
    try:
        result = page.fields(_store(request), name, cs_object)
    except CrmsyncError as exc:
        return _views(request).message("Import not possible", str(exc), 400)
    rows = [
        {**f, "options": ", ".join(f["options"]), "mapped": "yes" if f["mapped"] else ""}
        for f in result["fields"]
    ]
    caption = f"{result['external_object']} fields for {cs_object}"
    note = f"Add the unmapped ones as commented suggestions: crmsync fields {name} {cs_object} --write"
    return _item9(
        request,
        name,
        f"{name}: import fields",
        [(caption, ["name", "label", "type", "options", "mapped"], rows)],
        note,
    )


def _item9(request: Request, name: str, title: str, tables: list, note: str) -> Response:
    back = integration_path(name) + "#item-9"
    return _views(request).render("item9.html", title=title, tables=tables, note=note, back=back, name=name)


@router.get("/i/{name:path}")
def integration(request: Request, name: str, saved: str | None = None) -> Response:
    """The configuration page of one integration."""
    store = _store(request)
    try:
        return _views(request).integration(store, name, saved=saved)
    except UnknownName as exc:
        return _views(request).message("Not found", str(exc), 404)


@router.post("/i/{name:path}/toggle")
def toggle(request: Request, name: str, form: Form) -> Response:
    """Item 2: enable or pause all sync of this integration."""

    def action(store: Store) -> None:
        state = _field(form, "state")
        if state not in ("on", "off"):
            raise CrmsyncError(f"unknown toggle state '{state}' (valid: on, off)")
        store.settings.set_enabled(name, state == "on")

    return _act(request, name, action, _saved(name, "toggle"))


@router.post("/i/{name:path}/object")
def point_object(request: Request, name: str, form: Form) -> Response:
    """Item 3: point a ClientSuccess object at another CRM object."""
    return _act(
        request,
        name,
        lambda store: page.point_object(
            store, name, _field(form, "cs_object"), _field(form, "external_object")
        ),
        _saved(name, "object"),
    )


@router.post("/i/{name:path}/direction")
def direction(request: Request, name: str, form: Form) -> Response:
    """Item 4: an object's sync direction."""
    return _act(
        request,
        name,
        lambda store: store.settings.set_direction(
            name, _field(form, "cs_object"), _field(form, "direction")
        ),
        _saved(name, "direction"),
    )


@router.post("/i/{name:path}/schedule")
def schedule(request: Request, name: str, form: Form) -> Response:
    """Item 5: the pull schedule."""
    return _act(
        request,
        name,
        lambda store: store.settings.set_schedule(name, _field(form, "schedule")),
        _saved(name, "schedule"),
    )


@router.post("/i/{name:path}/pull")
def pull_now(request: Request, name: str, form: Form) -> Response:
    """Pull now: start the sync in the background; the page polls its progress."""
    return _act(
        request, name, lambda _store: request.app.state.runs.start(name), _saved(name, "pull", "#pull")
    )


@router.post("/i/{name:path}/delete")
def delete(request: Request, name: str, form: Form) -> Response:
    """Delete the integration permanently, once its name has been typed to confirm."""

    def action(store: Store) -> None:
        if form.get("confirm_name", "") != name:
            raise CrmsyncError("not deleted: type the integration's exact name to confirm")
        page.delete_everywhere(store, name)

    return _act(request, name, action, "/?saved=deleted")


@router.get("/login")
def login_page(request: Request) -> Response:
    """Ask for the access token (only when one is configured)."""
    return _views(request).render("login.html", error=None)


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    """Check the typed access token; a match gets the login cookie."""
    guard = request.app.state.guard
    if not guard.token_matches(form.get("token")):
        return _views(request).render("login.html", status=401, error="That is not the access token.")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(LOGIN_COOKIE, guard.login_cookie(), httponly=True, samesite="strict")
    return response
