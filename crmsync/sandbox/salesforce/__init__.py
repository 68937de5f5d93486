"""A local Salesforce org that speaks the REST wire format over HTTPS, with a locally made CA.

``start_salesforce()`` seeds Accounts, Contacts and Opportunities from ``crmsync.sandbox.seed``,
serves them on a free loopback port and writes the CA certificate to a PEM file; point
``REQUESTS_CA_BUNDLE`` at that file (``SalesforceSandbox.env()`` gives every variable to set).
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import trustme

from crmsync.sandbox.http import Running, serve
from crmsync.sandbox.salesforce.app import SalesforceApp
from crmsync.sandbox.salesforce.schema import API_VERSION, EXTERNAL_ID, OBJECTS, make_id
from crmsync.sandbox.salesforce.store import Org

DEFAULT_TOKEN = "00DDn0000000001!sandbox-access-token"  # noqa: S105 - a sandbox-only credential
DEFAULT_USERNAME = "integration@crmsync.sandbox"
DEFAULT_PASSWORD = "sandbox-password"  # noqa: S105 - a sandbox-only credential
DEFAULT_SECURITY_TOKEN = "sandboxSecurityToken"  # noqa: S105 - a sandbox-only credential


@dataclass
class SalesforceSandbox(Running):
    """A running Salesforce sandbox and the CA file that makes its certificate trusted."""

    ca_file: str = ""
    token: str = DEFAULT_TOKEN
    _tmpdir: str | None = None

    @property
    def sf(self) -> SalesforceApp:
        """The app, typed (for counters, faults and direct store access in tests)."""
        return cast(SalesforceApp, self.app)

    def env(self) -> dict[str, str]:
        """Environment variables that point the connector (and any requests client) at this sandbox."""
        return {
            "SALESFORCE_INSTANCE_URL": self.url,
            "SALESFORCE_ACCESS_TOKEN": self.token,
            "REQUESTS_CA_BUNDLE": self.ca_file,
        }

    def stop(self) -> None:
        super().stop()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def start_salesforce(
    accounts: int = 50,
    contacts: int = 50,
    opportunities: int = 50,
    *,
    ca: trustme.CA | None = None,
    ca_file: str | Path | None = None,
    port: int = 0,
    **login: str,
) -> SalesforceSandbox:
    """Seed an org, serve it over HTTPS on loopback, and write the CA PEM (to ``ca_file`` or a temp dir).

    ``login`` may set ``token``, ``username``, ``password`` and ``security_token`` (defaults: the
    sandbox's own).
    """
    unknown = set(login) - {"token", "username", "password", "security_token"}
    if unknown:
        raise TypeError(f"unknown login option(s): {', '.join(sorted(unknown))}")
    token = login.get("token", DEFAULT_TOKEN)
    username = login.get("username", DEFAULT_USERNAME)
    password = login.get("password", DEFAULT_PASSWORD)
    security_token = login.get("security_token", DEFAULT_SECURITY_TOKEN)
    ca = ca or trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    app = SalesforceApp(Org(accounts, contacts, opportunities), token, username, password, security_token)
    running = serve(app, port=port, tls=context)
    tmpdir = None
    if ca_file is None:
        tmpdir = tempfile.mkdtemp(prefix="crmsync-salesforce-")
        ca_file = Path(tmpdir) / "salesforce-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return SalesforceSandbox(
        running.app, running.server, running.thread, running.url, str(ca_file), token, tmpdir
    )


__all__ = [
    "API_VERSION",
    "DEFAULT_TOKEN",
    "EXTERNAL_ID",
    "OBJECTS",
    "SalesforceApp",
    "SalesforceSandbox",
    "make_id",
    "start_salesforce",
]
