"""Control API: a delivery report for an MT, now or after a delay on the fake's clock."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms.backend import backend
from fakemms.control.messages import ID
from fakemms.control.openapi import operation
from fakemms.control.validate import duration


@operation("POST", "/api/messages/<id>/reports", path_params=ID, body="ReportIn",
           answer="ReportSent", status=201, answers={202: "ReportScheduled"})
def send_report(id: str, body: dict[str, Any]) -> tuple[Response, int]:
    """Send a delivery report now (201), or after a delay on the clock (202); its DLR
    callback follows

    400 for an MO (reports are for MTs).
    """
    after = duration(body.get("after", 0), "after")
    result = backend().reports.send(
        id, status=body["status"], outcome_id=body.get("outcome_id"),
        description=body.get("description"), user_agent=body.get("user_agent"), after=after)
    return jsonify(result), 202 if after else 201
