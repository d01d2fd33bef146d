"""Media types the MM7 interface accepts in strict mode (mm7-api.txt, "Known Supported File
Formats"), plus the obvious corrections of that table's typos. No I/O."""

from __future__ import annotations

# As the document lists them (its video rows say image/mp4, image/mpeg, image/3gpp,
# image/quicktime: kept, since real clients copy documents).
DOCUMENTED = frozenset({
    "image/jpeg", "image/bmp", "image/gif", "image/png", "image/tiff", "image/heic",
    "audio/amr", "audio/mpeg3", "audio/midi", "audio/wav", "audio/basic",
    "image/mp4", "image/mpeg", "image/3gpp", "video/msvideo", "video/avi",
    "application/x-troff-msvideo", "video/x-msvideo", "image/quicktime",
    "text/plain", "text/calendar", "text/vcard",
})
# Our additions: the registered names of the same formats, and the presentation itself.
CORRECTED = frozenset({
    "application/smil", "image/jpg", "video/mp4", "video/mpeg", "video/3gpp", "video/quicktime",
    "audio/mpeg", "audio/mp3", "audio/x-wav", "audio/mid", "text/x-vcard", "text/x-vcalendar",
})
SUPPORTED = DOCUMENTED | CORRECTED


def media_type(content_type: str) -> str:
    """``Image/GIF; name=x`` -> ``image/gif``."""
    return content_type.split(";")[0].strip().lower()


def unsupported(media_types: list[str]) -> list[str]:
    """The media types (lower-cased type/subtype) outside the supported table."""
    return [m for m in media_types if media_type(m) not in SUPPORTED]
