"""The configuration page in a real browser: `crmsync ui` serving, chromium clicking, the store checked.

One user session, step by step: flip the toggle, change a direction, the object pointing and the
schedule, press "Pull now" against the HubSpot sandbox and wait for its result, then delete the
integration after typing its name. After each step the store is read back with ``Store()``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import func, select

from crmsync import config, page
from crmsync.models import Client, Contact, QuarantineRecord
from crmsync.store import Store
from tests.flows.conftest import WRITE_LABELS
from tests.ui.conftest import screenshot

pytestmark = pytest.mark.timeout(900)


def _setting(cs_object: str):
    return Store().settings.object_setting("hubspot", cs_object)


def _count(model) -> int:
    with Store().session() as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _save(tab, select_label: str, option_label: str, button: str) -> None:
    tab.get_by_label(select_label, exact=True).select_option(label=option_label)
    tab.get_by_role("button", name=button).click()
    tab.wait_for_load_state()


def _status_poll(response) -> bool:
    return response.url.endswith("/i/hubspot/pull") and response.request.method == "GET"


def _snapshot() -> dict[str, list]:
    """Every table's rows, to prove a preview changed nothing in the store."""
    import sqlalchemy as sa

    engine = Store().engine
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {n: sorted(map(repr, conn.execute(sa.select(t)).all())) for n, t in meta.tables.items()}


def test_a_user_configures_pulls_and_deletes(crmsync_home, hubspot_sandbox, ui_server, browser_page):
    store = Store()
    page.connect(store, "hubspot")
    with store.session() as s:  # a ClientSuccess status HubSpot has no option for: pushed, it is quarantined
        s.add(Client(name="Unmatched Status Ltd", domain="unmatched.example", status="Churned"))
    tab = browser_page
    assert ui_server.startswith("http://127.0.0.1:")

    # The list, then the integration's page.
    tab.goto(ui_server)
    tab.get_by_role("link", name="hubspot").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("1HubSpot")

    # 2. The global toggle pauses everything, and every field says why it no longer syncs.
    tab.get_by_role("button", name="Pause all sync").click()
    expect(tab.locator("#toggle-state")).to_have_text("Off")
    assert Store().settings.integration("hubspot").enabled is False
    expect(tab.locator("#fields-clients td.why").first).to_have_text("the integration is paused")
    tab.get_by_role("button", name="Enable sync").click()
    expect(tab.locator("#toggle-state")).to_have_text("On")
    assert Store().settings.integration("hubspot").enabled is True

    # 4. An object's direction, in the page's words; a two-way field of it now only pulls.
    _save(tab, "Sync direction of contacts", "Pull from HubSpot", "Save the direction of contacts")
    assert _setting("contacts").direction == "pull"
    email = tab.locator("#fields-contacts tr", has_text="email")
    expect(email.locator(".eff")).to_have_text("pull")
    expect(email.locator(".why")).to_have_text("the object is pull only")

    # 3. The object pointing: clients from deals, never both; one the mappings lack is refused.
    _save(tab, "HubSpot object of clients", "deals", "Save the object of clients")
    assert _setting("clients").external_object == "deals"
    _save(tab, "HubSpot object of clients", "contacts", "Save the object of clients")
    expect(tab.get_by_role("alert")).to_contain_text("no field mappings for clients -> contacts")
    assert _setting("clients").external_object == "deals"
    tab.goto(ui_server + "i/hubspot")
    _save(tab, "HubSpot object of clients", "companies", "Save the object of clients")
    assert _setting("clients").external_object == "companies"

    # 5 and 7. The pull schedule, and the next pull it implies.
    _save(tab, "Pull schedule", "Every 15 minutes", "Save the pull schedule")
    assert Store().settings.integration("hubspot").schedule == "15m"
    expect(tab.locator("#next-pull")).not_to_contain_text("none")

    # 9. Import fields and sync preview: read from the live API; the preview writes nothing anywhere.
    tab.get_by_label("Import the fields of").select_option("clients")
    tab.get_by_role("button", name="Import fields").click()
    expect(tab.locator("main")).to_contain_text("clientsuccess_status")
    tab.go_back()
    before = _snapshot()
    hubspot_sandbox.app.reset_counters()
    tab.get_by_label("Preview a sync of").select_option("clients")
    tab.get_by_role("button", name="Sync preview").click()
    expect(tab.locator("main")).to_contain_text("Nothing was written anywhere.", timeout=300_000)
    expect(tab.locator("main")).to_contain_text("pull into ClientSuccess")
    screenshot(tab, "sync-preview")
    assert _snapshot() == before
    assert not [
        label for label, n in hubspot_sandbox.app.counters.items() if n and label.startswith(WRITE_LABELS)
    ]
    tab.go_back()

    # Pull now: the same flow as `crmsync sync`, against the sandbox, with its progress and result.
    assert Store().settings.integration("hubspot").latest_pull_at is None
    with tab.expect_response(_status_poll, timeout=120_000) as status:  # the page polls while it runs
        tab.get_by_role("button", name="Pull now").click()
    assert status.value.json()["status"] in ("running", "completed")
    expect(tab.locator("#pull-state")).to_contain_text("Completed", timeout=600_000)
    result = tab.locator("#pull-result")
    expect(result.locator("tr", has_text="clients")).to_contain_text("completed")
    expect(tab.locator("#prefect-link")).to_have_attribute("href", re.compile(r"/runs/flow-run/"))
    integration = Store().settings.integration("hubspot")
    assert integration.latest_pull_at is not None
    expect(tab.locator("#latest-pull")).to_have_text(integration.latest_pull_at.isoformat(timespec="seconds"))
    assert _count(Client) == 30 + 1 and _count(Contact) == 60  # the sandbox's companies, and ours
    with Store().session() as s:
        held = s.exec(select(QuarantineRecord).where(QuarantineRecord.direction == "push")).all()
    assert [row.raw.get("status") for row in held] == ["Churned"]
    row = tab.locator("#quarantine-clients tr", has_text="Churned")
    expect(row).to_contain_text(f"push of clients record {held[0].record_key}")
    expect(row).to_contain_text("on the next pull (")
    screenshot(tab, "integration-after-pull")

    # Delete: a wrong name deletes nothing; the right one removes it all, permanently.
    expect(tab.locator("#delete")).to_contain_text("It cannot be undone.")
    tab.get_by_label("Type the integration's name to confirm").fill("hubspot-eu")
    tab.get_by_role("button", name="Delete integration").click()
    expect(tab.get_by_role("alert")).to_contain_text("not deleted")
    assert [row.name for row in Store().settings.integrations()] == ["hubspot"]
    tab.get_by_label("Type the integration's name to confirm").fill("hubspot")
    tab.get_by_role("button", name="Delete integration").click()
    expect(tab.get_by_role("status")).to_contain_text("Deleted")
    expect(tab.locator("main")).to_contain_text("No integrations yet")
    assert Store().settings.integrations() == []
    assert not config.mapping_path("hubspot").exists()
    screenshot(tab, "integrations-after-delete")
