"""The page's safety rules over HTTP: CSRF, where it listens, the access token, the Host header."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from crmsync.store import Store
from crmsync.ui.app import create_app
from crmsync.ui.security import Guard, UnsafeBinding, check_binding, host_allowed, is_loopback
from tests.ui.conftest import csrf_token

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - the address under test; no test binds it


def _state() -> tuple:
    store = Store()
    row = store.settings.integration("hubspot")
    return (
        row.enabled,
        row.schedule,
        [(s.cs_object, s.external_object, s.direction) for s in store.settings.object_settings("hubspot")],
    )


@pytest.mark.parametrize(
    ("action", "form"),
    [
        ("toggle", {"state": "off"}),
        ("direction", {"cs_object": "contacts", "direction": "pull"}),
        ("object", {"cs_object": "clients", "external_object": "deals"}),
        ("schedule", {"schedule": "15m"}),
        ("pull", {}),
        ("delete", {"confirm_name": "hubspot"}),
    ],
)
def test_a_post_without_a_valid_token_is_refused_and_changes_nothing(client, action, form):
    before = _state()
    html = client.get("/i/hubspot").text
    other = "schedule" if action != "schedule" else "toggle"
    for token in (None, "", "garbage", "123.abc", csrf_token(html, f"/i/hubspot/{other}")):
        data = form if token is None else {**form, "csrf_token": token}
        response = client.post(f"/i/hubspot/{action}", data=data, follow_redirects=False)
        assert response.status_code == 403, (token, response.text)
        assert "nothing was changed" in response.text
    assert _state() == before
    assert client.get("/i/hubspot/pull").json()["status"] == "none"  # no pull was started


def test_the_right_token_works_and_tokens_expire(client):
    html = client.get("/i/hubspot").text
    token = csrf_token(html, "/i/hubspot/schedule")
    response = client.post(
        "/i/hubspot/schedule", data={"schedule": "30m", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert Store().settings.integration("hubspot").schedule == "30m"
    guard = Guard()
    old = guard.csrf_token("/i/hubspot/toggle", now=1_000_000)
    assert guard.csrf_valid(old, "/i/hubspot/toggle", now=1_000_060)
    assert not guard.csrf_valid(old, "/i/hubspot/toggle", now=1_000_000 + 13 * 3600)
    assert not guard.csrf_valid(old, "/i/hubspot-eu/toggle", now=1_000_060)  # bound to its form
    assert not Guard().csrf_valid(old, "/i/hubspot/toggle", now=1_000_060)  # another process's secret


def test_loopback_is_the_default_and_other_addresses_need_a_token():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_binding(host, None)
    for host in (ANY_ADDRESS, "192.0.2.10", "example.org", "::"):
        assert not is_loopback(host)
        with pytest.raises(UnsafeBinding, match="CRMSYNC_UI_TOKEN"):
            check_binding(host, None)
        check_binding(host, "a-long-token")


def test_the_command_refuses_a_public_address_without_a_token(crmsync_home):
    env = {key: value for key, value in os.environ.items() if key != "CRMSYNC_UI_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "crmsync", "ui", "--host", ANY_ADDRESS, "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: refusing to serve on 0.0.0.0 without a token: set CRMSYNC_UI_TOKEN (the page then asks "
        "for it), or keep the default --host 127.0.0.1"
    ]


def test_the_cli_starts_without_the_web_stack():
    code = "import sys, crmsync.cli; assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_with_a_token_every_request_must_carry_it(store):
    app = create_app(access_token="s3cret-token-for-tests", host=ANY_ADDRESS)
    with TestClient(app, base_url="http://crm.example.internal:8787") as http:
        assert http.get("/", follow_redirects=False).headers["location"] == "/login"
        assert http.get("/i/hubspot/pull", follow_redirects=False).status_code == 303
        assert http.post("/i/hubspot/toggle", data={"state": "off"}).status_code == 401
        bearer = {"Authorization": "Bearer s3cret-token-for-tests"}
        assert http.get("/i/hubspot", headers=bearer).status_code == 200
        assert (
            http.get(
                "/i/hubspot", headers={"Authorization": "Bearer wrong"}, follow_redirects=False
            ).status_code
            == 303
        )

        login = http.get("/login").text
        wrong = http.post("/login", data={"token": "guess", "csrf_token": csrf_token(login, "/login")})
        assert wrong.status_code == 401 and "not the access token" in wrong.text
        assert "s3cret-token-for-tests" not in wrong.text
        assert (
            http.post("/login", data={"token": "s3cret-token-for-tests"}).status_code == 403
        )  # no CSRF token
        ok = http.post(
            "/login",
            data={"token": "s3cret-token-for-tests", "csrf_token": csrf_token(login, "/login")},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "s3cret-token-for-tests" not in cookie
        page = http.get("/i/hubspot")  # the login cookie is sent from now on
        assert page.status_code == 200 and "s3cret-token-for-tests" not in page.text
    assert Store().settings.integration("hubspot").enabled is True


def test_a_rebound_host_name_is_refused_on_loopback(store):
    assert host_allowed("127.0.0.1:8787", "127.0.0.1") and host_allowed("localhost", "127.0.0.1")
    assert host_allowed("[::1]:8787", "::1")
    assert not host_allowed("attacker.example:8787", "127.0.0.1")
    assert host_allowed("crm.example.internal", ANY_ADDRESS)  # served on purpose; the token guards it
    with TestClient(create_app(), base_url="http://attacker.example:8787") as http:
        response = http.get("/i/hubspot")
    assert response.status_code == 400 and "hubspot" not in response.text


def test_every_response_forbids_framing_and_foreign_scripts(client):
    headers = client.get("/i/hubspot").headers
    assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_a_taken_port_is_a_one_line_error(crmsync_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "crmsync", "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot listen on http://127.0.0.1:{port}/: ")
