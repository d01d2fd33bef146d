"""The UI behind the admin token: when one is configured, every page (they show the same
messages, raw requests and parts as the control API) asks for it once, in a small form whose
POST sets an HttpOnly, SameSite=Strict session cookie. The pages, their event stream and
their actions then carry that cookie (``fakemms.control.auth`` accepts it beside the Bearer
header). Without a token nothing here applies."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from fakemms.control.auth import (
    CHALLENGE,
    COOKIE,
    admin_token,
    refusal,
    same,
    session_value,
)
from fakemms.ui.views import bp

_OPEN = frozenset({"ui.static", "ui.login", "ui.login_form", "ui.logout"})


@bp.app_context_processor
def _closed() -> dict[str, bool]:
    return {"admin_closed": request.blueprint == "ui" and admin_token() is not None}


@bp.before_request
def _ask_for_the_token() -> Response | None:
    if request.endpoint in _OPEN:
        return None
    token = admin_token()
    if token is None or refusal(request, token) is None:
        return None
    return _login_page(request.full_path.rstrip("?"), 401)


def _login_page(next_path: str, status: int, wrong: bool = False) -> Response:
    response = make_response(render_template("login.html", next=next_path, wrong=wrong),
                             status)
    response.headers["WWW-Authenticate"] = CHALLENGE
    response.headers["Cache-Control"] = "no-store"
    return response


def _local(path: str | None) -> str:
    """Where to go after logging in: a path on this server only. Browsers drop tabs and
    newlines from a URL (WHATWG URL parsing), so ``/\t/evil.example`` would be
    ``//evil.example``: any control character, space or backslash takes the index instead."""
    if not path or not path.startswith("/") or path.startswith("//") or \
            any(c <= " " or c in "\\\x7f" for c in path):
        return url_for("ui.index")
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return url_for("ui.index")
    return path


@bp.get("/_fakemms/ui/login")
def login_form() -> Response | BaseResponse:
    if admin_token() is None:
        return redirect(url_for("ui.index"))
    return _login_page(_local(request.args.get("next")), 200)


@bp.post("/_fakemms/ui/login")
def login() -> Response | BaseResponse:
    """The token, checked in constant time; right: the session cookie and back to the page."""
    token = admin_token()
    next_path = _local(request.form.get("next"))
    if token is None:
        return redirect(next_path, 303)
    if not same(request.form.get("token", ""), token):
        return _login_page(next_path, 401, wrong=True)
    response = redirect(next_path, 303)
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/")
    return response


@bp.post("/_fakemms/ui/logout")
def logout() -> BaseResponse:
    response = redirect(url_for("ui.login_form"), 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response
