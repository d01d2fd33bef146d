"""MOs from a handset: from the control API or a scenario's script, stored, then sent to the
account's MO configuration in its format (or the one asked for)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from fakemms import errors, generate, outbound
from fakemms.models import Message, Part
from fakemms.protocols.mime import content_type_params
from fakemms.services.core import Core


class MoService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def inject(self, *, account: str, source: str | None = None,
               destination: str | None = None, subject: str | None = None,
               parts: list[Part] | None = None, ccs: list[str] | None = None,
               bccs: list[str] | None = None, mobile_operator_id: int | None = None,
               user_agent: str | None = None, decision: str | None = None,
               sms: bool = False, ua_prof: str | None = None,
               format: str | None = None) -> Message:
        """An MO from a handset: stored, then sent to the account's MO configuration (in
        ``format`` instead of the configuration's, when given)."""
        core = self.core
        acc = core.store.account(account)
        if acc is None:
            raise errors.NotFound(f"no account {account!r}")
        mo = acc.mo
        if format and mo is not None:
            mo = dataclasses.replace(mo, format=format)
        region = mo.region if mo else "US"
        if not destination:
            raise errors.ControlError("an MO needs a destination (the short code)")
        message = Message(
            id=core.new_message_id(), direction="mo",
            interface=interface_of(mo.format if mo else "http"), account=account,
            source=source or generate.phone_number(core.rng, region),
            destinations=[str(destination)], created_at=core.clock.now(),
            subject=subject if subject is not None else generate.subject(core.rng),
            mobile_operator_id=mobile_operator_id
            or core.rng.choice(generate.OPERATORS.get(region, [77])),
            ccs=list(ccs or []), bccs=list(bccs or []),
            parts=with_content_ids(parts) if parts
            else [Part("text/plain", generate.text(core.rng).encode(), "text.txt")],
            status="received", decision=decision,
            extra={k: v for k, v in (("user_agent", user_agent), ("ua_prof", ua_prof),
                                     ("type", "sms" if sms else None)) if v},
        )
        message.answered.set()
        evicted = core.store.add_message(message)
        if evicted:
            core.scheduler.cancel_keys(evicted)
        if mo is not None:
            callback = outbound.mo_callback(
                callback_id=core.new_callback_id(), message=message, account=acc, mo=mo,
                rng=core.rng, now=message.created_at, settings=core.outbound)
            if callback is not None:
                callback.decision = decision
                if decision and core.decision_header:  # as report callbacks do (README)
                    callback.headers["X-Fake-Decision"] = decision
                if core.store.add_callback(callback):
                    core.dispatcher.submit(callback)
        return message

    def generated_parts(self, specs: list[dict[str, Any]]) -> list[Part]:
        """MO parts from scenario/control specs: text, base64, or generated with faker."""
        parts = []
        for spec in specs:
            ctype = spec["content_type"]
            media = ctype.split(";")[0].strip().lower()
            if "text" in spec:
                text = text_part(ctype, spec["text"])
                ctype, data = text.content_type, text.data
            elif "base64" in spec:
                data = base64.b64decode(spec["base64"])
            elif media.startswith("image/"):
                data = generate.image(self.core.rng, media)
            else:
                data = generate.text(self.core.rng).encode("utf-8")
            parts.append(Part(ctype, data, spec.get("content_id")))  # inject names the rest
        return parts


def text_part(content_type: str, text: str, content_id: str | None = None) -> Part:
    """Text given as a string, encoded in the charset its Content-Type names, else UTF-8
    with ``charset=utf-8`` added: bytes without a charset are read as ISO-8859-1 by some
    clients."""
    charset = content_type_params(content_type)[1].get("charset")
    if not charset:
        charset, content_type = "utf-8", f"{content_type}; charset=utf-8"
    try:
        return Part(content_type, text.encode(charset), content_id)
    except (LookupError, UnicodeEncodeError) as exc:
        raise errors.ControlError(f"text cannot be written in charset {charset}: "
                                  f"{exc}") from None


def with_content_ids(parts: list[Part]) -> list[Part]:
    """Every MO part with a Content-Id: one not given is ``partN.ext`` by its place in the
    message, unique within it, so the callbacks and the legacy mms.zip tell the parts apart."""
    taken = {p.content_id for p in parts if p.content_id}
    out = []
    for n, part in enumerate(parts, start=1):
        if not part.content_id:
            media = content_type_params(part.content_type)[0]
            ext = media.split("/")[-1].replace("plain", "txt").replace("jpeg", "jpg")
            cid, k = f"part{n}.{ext}", 1
            while cid in taken:
                k += 1
                cid = f"part{n}-{k}.{ext}"
            taken.add(cid)
            part = dataclasses.replace(part, content_id=cid)
        out.append(part)
    return out


def interface_of(fmt: str) -> str:
    if fmt.startswith("mm7"):
        return "mm7"
    if fmt.startswith("legacy"):
        return "legacy"
    return "openmarket"
