"""Control API: a handset sends an MO; the fake stores it and sends it to the account's
MO URL."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, jsonify

from fakemms.backend import backend
from fakemms.control.openapi import operation
from fakemms.control.validate import refuse
from fakemms.models import Part
from fakemms.services.mo import text_part


@operation("POST", "/api/mo", body="MoIn", answer="MoAccepted", status=201, errors=(404,))
def inject_mo(body: dict[str, Any]) -> tuple[Response, int]:
    """Inject an MO; its callback follows

    404 when the account does not exist.
    """
    be = backend()
    parts = _parts(body["parts"]) if "parts" in body else None
    message = be.mo.inject(
        account=body["account"], source=body.get("source"), destination=body["destination"],
        subject=body.get("subject"), parts=parts, ccs=body.get("ccs"), bccs=body.get("bccs"),
        mobile_operator_id=body.get("mobile_operator_id"), user_agent=body.get("user_agent"),
        ua_prof=body.get("ua_prof"), sms=body.get("type") == "sms", format=body.get("format"))
    return jsonify({"id": message.id, "moId": int(message.id),
                    "callback_ids": list(message.callback_ids)}), 201


def _parts(specs: list[dict[str, Any]]) -> list[Part]:
    """Parts given as text or base64 as they are; the others generated (faker)."""
    parts = []
    for i, spec in enumerate(specs):
        if "text" in spec:  # text carries its charset (utf-8 unless the caller named one)
            parts.append(text_part(spec["content_type"], spec["text"],
                                             spec.get("content_id")))
            continue
        if "base64" in spec:
            try:
                payload = base64.b64decode(spec["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise refuse(f"parts[{i}].base64: not base64") from None
        else:
            parts.extend(backend().mo.generated_parts([spec]))
            continue
        parts.append(Part(spec["content_type"], payload, spec.get("content_id")))
    return parts
