"""UI routes: the message list at ``/``, a message, the MO form, controls, the API page."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

import fakemms.ui.data as data
from fakemms.config import MO_FORMATS
from fakemms.filenames import content_disposition, download_name
from fakemms.protocols.mm7.smil import media_type_of
from fakemms.scenario.schema import STATUSES
from fakemms.ui.present import charset_of, presentation, view_part

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/_fakemms/ui/static")

LIST_LIMIT = 200  # rows on the list page; filters (or the control API) reach older ones
FILTERS = ("account", "number", "status", "direction", "interface")
INTERFACES = ("openmarket", "mm7", "legacy")
# every status a message can show: as accepted or received, then its latest report's
MESSAGE_STATUSES = ("accepted", "received", *STATUSES, "Cancelled")

# Pages: only our own scripts, styles, images and frames; nothing inline, nothing remote.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "media-src 'self'; frame-src 'self'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'self'")
# Parts: whatever they hold runs nowhere (the sandbox directive also covers a part opened in
# a tab of its own); images and media still play.
PART_CSP = ("default-src 'none'; img-src data:; media-src 'self'; style-src 'unsafe-inline'; "
            "sandbox")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][\w.+-]*/[\w.+-]+$")


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.app_template_filter("pretty")
def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


@bp.app_template_filter("when")
def _when(value: str | None, precise: bool = False) -> str:
    """``2026-01-02T03:04:05.678+00:00`` as ``2026-01-02 03:04:05(.678) UTC``."""
    if not value:
        return ""
    stamp = value.replace("T", " ")
    return (stamp[:23] if precise and "." in stamp[:20] else stamp[:19]) + " UTC"


def _filters() -> dict[str, str]:
    return {k: request.args[k].strip() for k in FILTERS if request.args.get(k, "").strip()}


@bp.get("/")
def index() -> str:
    filters = _filters()
    total, rows = data.messages(filters, LIST_LIMIT)
    return render_template(
        "index.html", rows=rows, total=total, filters=filters, accounts=data.account_names(),
        statuses=MESSAGE_STATUSES, interfaces=INTERFACES, clock=data.clock(),
        sample=data.sample_sender() if not rows else None)


@bp.get("/_fakemms", strict_slashes=False)
def home() -> str:
    return render_template("home.html", clock=data.clock())


@bp.get("/_fakemms/ui/messages/<message_id>")
def message(message_id: str) -> tuple[str, int] | str | BaseResponse:
    found = data.message(message_id)
    if found is None:
        return render_template("missing.html", message_id=message_id, clock=data.clock()), 404
    if found["id"] != message_id:  # "latest": the page follows one message, by its id
        return redirect(url_for("ui.message", message_id=found["id"]))
    parts = data.parts(found["id"])
    return render_template(
        "message.html", m=found, views=[view_part(i, p) for i, p in enumerate(parts)],
        show=presentation(parts), callbacks=data.callbacks(found["callback_ids"]),
        raw_request=data.raw_request(found["id"]),
        statuses=STATUSES, clock=data.clock())


@bp.get("/_fakemms/ui/messages/<message_id>/parts/<int:index>")
def part(message_id: str, index: int) -> Response:
    """A part's bytes for the UI, with the headers that keep hostile content inert."""
    found = data.part(message_id, index)
    if found is None:
        abort(404)
    media = media_type_of(found.content_type)
    if not _MEDIA_TYPE.match(media):
        media = "application/octet-stream"
    if media.startswith("text/"):
        media += f"; charset={charset_of(found.content_type)}"
    response = Response(found.data, content_type=media)
    response.headers["Content-Security-Policy"] = PART_CSP
    name = download_name(found.filename, found.content_id, index)
    disposition = "attachment" if request.args.get("download") else "inline"
    response.headers["Content-Disposition"] = content_disposition(disposition, name)
    return response


@bp.get("/_fakemms/ui/mo")
def mo_form() -> str:
    return render_template("mo.html", accounts=data.account_names(), formats=MO_FORMATS,
                           clock=data.clock())


@bp.get("/_fakemms/ui/controls")
def controls() -> str:
    return render_template("controls.html", accounts=data.accounts(),
                           scenarios=data.scenarios(), clock=data.clock())


@bp.get("/_fakemms/ui/api")
def api_page() -> str:
    doc = data.openapi()
    operations = [
        {"path": path, "method": method.upper(), **op}
        for path, methods in doc["paths"].items() for method, op in methods.items()
    ]
    return render_template("api.html", doc=doc, operations=operations, clock=data.clock())
