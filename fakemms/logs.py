"""What ``fakemms serve`` logs goes to stdout, as text or JSON lines ($FAKEMMS_LOG_FORMAT), so a
container's log collector gets one stream it can parse."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

from fakemms.errors import ConfigError

LOG_FORMATS = ("text", "json")
# query parameters whose values never reach a log line (the legacy gateway's ``pass``)
_SECRET_PARAM = re.compile(r"([?&](?:pass|password|token|admin_token)=)[^&#\s]*", re.I)


def redact_target(target: str) -> str:
    """A request target as the access log shows it: secret query values redacted."""
    return _SECRET_PARAM.sub(r"\1(redacted)", target) if "=" in target else target


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The message alone for information (the banner, the request log), else level and logger
    first, so warnings stand out."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO and not record.exc_info:
            return record.getMessage()
        return f"{record.levelname} {record.name}: {super().format(record)}"


class LineLogger(io.TextIOBase):
    """A text stream whose every line becomes an INFO record of ``logger``: what the server
    writes to stderr (its request log, tracebacks) joins the same stream and format."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._partial = ""
        self._lock = threading.Lock()  # server threads write at once

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.logger.info("%s", line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            partial, self._partial = self._partial, ""
        if partial.strip():
            self.logger.info("%s", partial)


def log_format(value: str | None) -> str:
    """$FAKEMMS_LOG_FORMAT checked: ``text`` (the default) or ``json``."""
    fmt = (value or "text").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ConfigError("FAKEMMS_LOG_FORMAT", [f"cannot use {value!r}: text or json"])
    return fmt


def configure(fmt: str, stream: TextIO | None = None) -> None:
    """Send every record to ``stream`` (stdout) in ``fmt``, and stderr's lines with them."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    logging.raiseExceptions = False  # a failing handler must not write to stderr: it is this
    sys.stderr = LineLogger(logging.getLogger("fakemms.server"))
