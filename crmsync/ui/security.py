"""The web page's safety rules: where it may listen, who may use it, and which forms are genuine.

- It listens on 127.0.0.1 by default; on any other address ``CRMSYNC_UI_TOKEN`` is required.
- With a token set, every request must carry it: a login cookie, or ``Authorization: Bearer``.
- Every state-changing form carries a CSRF token signed with a per-process secret and bound
  to the form's own action path, so a token taken from one form does not work on another.
- On a loopback address, a request must name a loopback host, which stops DNS rebinding.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

from crmsync.errors import CrmsyncError

ACCESS_ENV = "CRMSYNC_UI_TOKEN"  # the name of the variable, not a value
LOGIN_COOKIE = "crmsync_ui_login"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 12 * 3600  # a form left open for half a day still works; older ones are refused
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class UnsafeBinding(CrmsyncError):
    """The page was asked to listen where it would be reachable without a token."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only accepts connections from this machine."""
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (a one-line UnsafeBinding)."""
    if not is_loopback(host) and not token:
        raise UnsafeBinding(
            f"refusing to serve on {host} without a token: set {ACCESS_ENV} "
            "(the page then asks for it), or keep the default --host 127.0.0.1"
        )


def host_allowed(host_header: str, bound_host: str) -> bool:
    """On loopback, the request's Host must be a loopback name (a rebound DNS name is refused)."""
    if not is_loopback(bound_host):
        return True  # reachable from elsewhere on purpose: the token is the guard
    bracketed = host_header.startswith("[")  # [::1]:8787
    name = host_header[1:].partition("]")[0] if bracketed else host_header.partition(":")[0]
    return is_loopback(name)


class Guard:
    """The per-process secret, and what it signs: CSRF tokens and the login cookie."""

    def __init__(self, access_token: str | None = None, secret: bytes | None = None) -> None:
        self.access_token = access_token or None
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, action: str, now: float | None = None) -> str:
        """A token for the form that posts to ``action`` (a path)."""
        issued = str(int(now if now is not None else time.time()))
        return f"{issued}.{self._sign(f'csrf|{issued}|{action}')}"

    def csrf_valid(self, token: str | None, action: str, now: float | None = None) -> bool:
        """Whether ``token`` was made by this process for ``action`` and is recent enough."""
        issued, _, signature = (token or "").partition(".")
        if not issued.isdigit() or not signature:
            return False
        expected = self._sign(f"csrf|{issued}|{action}")
        age = (now if now is not None else time.time()) - int(issued)
        return hmac.compare_digest(signature, expected) and -60 <= age <= CSRF_MAX_AGE

    def login_cookie(self) -> str:
        """The cookie value that proves its holder typed the access token into this process."""
        return self._sign(f"login|{self.access_token}")

    def token_matches(self, typed: str | None) -> bool:
        """Whether ``typed`` is the access token (compared in constant time)."""
        return bool(self.access_token) and hmac.compare_digest(
            (typed or "").encode(), self.access_token.encode()
        )

    def authorized(self, cookie: str | None, authorization: str | None) -> bool:
        """No token configured, or the request carries it (login cookie or bearer header)."""
        if not self.access_token:
            return True
        if cookie and hmac.compare_digest(cookie, self.login_cookie()):
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())
