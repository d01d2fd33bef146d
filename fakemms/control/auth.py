"""The admin token (``admin_token``, $FAKEMMS_ADMIN_TOKEN): when set, every ``/_fakemms/api``
route asks for ``Authorization: Bearer TOKEN`` (RFC 6750), and the UI for the same token or
the session cookie its login form sets. Health and the provider's endpoints stay open.

Both a missing and a wrong token answer 401, as RFC 6750 section 3.1 says (``error=
"invalid_token"`` tells them apart); comparisons run in constant time. The cookie holds an
HMAC of the token, never the token itself; a change made with the cookie alone (not GET or
HEAD) must also carry ``X-Fakemms-UI``, a header no other site's page can send without a
CORS preflight this server never grants.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Request, Response, jsonify, request

from fakemms.backend import backend
from fakemms.control.blueprint import bp

API_PREFIX = "/_fakemms/api"
COOKIE = "fakemms_session"
UI_HEADER = "X-Fakemms-UI"  # what the UI's own scripts send with every change
CHALLENGE = 'Bearer realm="fakemms"'
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def admin_token() -> str | None:
    """The configured token, or None: the control API and the UI are open."""
    return backend().config.get("admin_token") or None


def same(given: str, token: str) -> bool:
    """Constant-time comparison (as bytes, so any text compares)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               token.encode("utf-8", "surrogateescape"))


def session_value(token: str) -> str:
    """What the UI's session cookie holds: derived from the token, not the token."""
    return hmac.new(token.encode(), b"fakemms ui session", hashlib.sha256).hexdigest()


def refusal(req: Request, token: str) -> tuple[str, str | None] | None:
    """None when ``req`` may pass; else why not (a description) and the RFC 6750 error code
    (None when no credentials came at all)."""
    header = req.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return (f"this fakemms needs the admin token: send Authorization: Bearer TOKEN "
                    f"(not {scheme[:20]})", "invalid_request")
        if same(given.strip(), token):
            return None
        return "the admin token is wrong (Authorization: Bearer TOKEN)", "invalid_token"
    cookie = req.cookies.get(COOKIE, "")
    if cookie and same(cookie, session_value(token)):
        if req.method in _SAFE_METHODS or req.headers.get(UI_HEADER):
            return None
        return (f"a change made with the UI's session cookie must carry {UI_HEADER} (or "
                f"send Authorization: Bearer TOKEN)", "invalid_request")
    return ("this fakemms needs the admin token: send Authorization: Bearer TOKEN (the "
            "value of FAKEMMS_ADMIN_TOKEN or admin_token)", None)


def unauthorized(description: str, code: str | None) -> Response:
    """401 in the control API's error shape, with the challenge RFC 6750 asks for."""
    response = jsonify({"error": {"code": 401, "description": description}})
    response.status_code = 401
    challenge = CHALLENGE + (f', error="{code}"' if code else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


@bp.before_app_request
def _guard_the_api() -> Response | None:
    """Every path under /_fakemms/api, routed or not, before anything else runs."""
    path = request.path
    if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
        return None
    token = admin_token()
    if token is None:
        return None
    found = refusal(request, token)
    return None if found is None else unauthorized(*found)
