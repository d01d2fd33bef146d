"""The legacy gateway's MMS contents as a zip (legacy-mms-gateway-receive.txt, "mms.zip").

``build_zip`` lays the parts out as files (deterministic bytes: fixed order, timestamps and
permissions); ``read_zip`` turns a customer's ``mms.zip`` back into parts and refuses zip bombs.
No I/O beyond in-memory buffers.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

from fakemms.models import Part
from fakemms.protocols.legacy.errors import InvalidZip, ZipTooLarge

DEFAULT_MAX_ENTRIES = 100
DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024
SMIL_NAME = "presentation.smil"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
_CHUNK = 64 * 1024

# Media type -> the extension given to a file of that type. A fixed table (not ``mimetypes``,
# whose answers depend on the machine) so the zip's bytes are the same everywhere.
MEDIA_EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/pjpeg": ".jpg", "image/png": ".png",
    "image/gif": ".gif", "image/bmp": ".bmp", "image/vnd.wap.wbmp": ".wbmp",
    "image/webp": ".webp", "image/heic": ".heic", "image/tiff": ".tif",
    "text/plain": ".txt", "text/html": ".html", "text/x-vcard": ".vcf", "text/vcard": ".vcf",
    "text/x-vcalendar": ".vcs", "text/calendar": ".ics", "application/smil": ".smil",
    "application/pdf": ".pdf", "application/octet-stream": ".bin",
    "audio/amr": ".amr", "audio/amr-wb": ".awb", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
    "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/wav": ".wav", "audio/x-wav": ".wav",
    "audio/midi": ".mid", "audio/ogg": ".ogg", "video/mp4": ".mp4", "video/3gpp": ".3gp",
    "video/3gpp2": ".3g2", "video/quicktime": ".mov", "video/mpeg": ".mpg",
    "video/webm": ".webm",
}
# Extension -> media type when reading a zip; unknown extensions are application/octet-stream.
EXTENSION_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".gif": "image/gif", ".bmp": "image/bmp", ".wbmp": "image/vnd.wap.wbmp",
    ".webp": "image/webp", ".heic": "image/heic", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".txt": "text/plain", ".text": "text/plain", ".htm": "text/html", ".html": "text/html",
    ".vcf": "text/x-vcard", ".vcs": "text/x-vcalendar", ".ics": "text/calendar",
    ".smil": "application/smil", ".smi": "application/smil", ".pdf": "application/pdf",
    ".bin": "application/octet-stream", ".amr": "audio/amr", ".awb": "audio/amr-wb",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav",
    ".mid": "audio/midi", ".midi": "audio/midi", ".ogg": "audio/ogg", ".mp4": "video/mp4",
    ".3gp": "video/3gpp", ".3g2": "video/3gpp2", ".mov": "video/quicktime",
    ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".webm": "video/webm",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def media_type(content_type: str) -> str:
    """``image/png`` from ``image/png; name=x.png``."""
    return content_type.split(";", 1)[0].strip().lower()


def type_for_name(name: str) -> str:
    """The media type a file name's extension stands for."""
    return EXTENSION_TYPES.get(_extension(name), "application/octet-stream")


def entry_names(parts: Sequence[Part]) -> list[str]:
    """The zip file name of each part: its ``filename`` (where codecs keep Content-Location),
    else its Content-Id, else ``partN``; made safe, given an extension matching its media type
    when it has none that does, and made unique (``image-2.jpg``)."""
    seen: set[str] = set()
    out = []
    for index, part in enumerate(parts, start=1):
        out.append(_unique(_part_name(part, index), seen))
    return out


def build_zip(parts: Sequence[Part], smil: bytes | str | None = None, *,
              when: float | datetime | None = None) -> bytes:
    """The MMS contents as zip bytes: the SMIL first (``presentation.smil``) when given, then
    each part under its ``entry_names`` name. ``when`` dates the entries (default 1980-01-01),
    so the same input always gives the same bytes. Text is deflated, media stored as is.
    Pass ``smil`` only when ``parts`` hold none (a SMIL part is zipped like any other); its
    ``cid:`` references are kept as sent, not rewritten to the zip's file names."""
    files: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    if smil is not None:
        data = smil.encode("utf-8") if isinstance(smil, str) else smil
        files.append((_unique(SMIL_NAME, seen), data))
    for index, part in enumerate(parts, start=1):
        files.append((_unique(_part_name(part, index), seen), part.data))
    stamp = _date_time(when)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = (zipfile.ZIP_DEFLATED if _compressible(name)
                                  else zipfile.ZIP_STORED)
            zf.writestr(info, data)
    return buffer.getvalue()


def read_zip(data: bytes, *, max_entries: int = DEFAULT_MAX_ENTRIES,
             max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES) -> list[Part]:
    """The files of a zip as parts (``filename`` and ``content_id`` = the file's base name,
    media type from its extension), in archive order; directories and macOS ``__MACOSX/``
    metadata skipped. Raises ``ZipTooLarge`` past ``max_entries`` entries or
    ``max_total_bytes`` uncompressed (declared or actually inflated), ``InvalidZip`` when it is
    not a readable zip (corrupt, encrypted, unknown compression)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError,
            NotImplementedError) as exc:  # NotImplementedError: a zip version above 6.3
        raise InvalidZip(f"not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise ZipTooLarge(f"{len(infos)} entries; at most {max_entries} are accepted")
        files = [i for i in infos if not i.is_dir() and not _is_metadata(i.filename)]
        declared = sum(i.file_size for i in files)
        if declared > max_total_bytes:
            raise ZipTooLarge(f"{declared} bytes uncompressed; at most {max_total_bytes} "
                              "are accepted")
        parts: list[Part] = []
        total = 0
        for info in files:
            if info.flag_bits & 0x1:
                raise InvalidZip(f"{info.filename} is encrypted")
            chunks: list[bytes] = []
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(_CHUNK):
                        total += len(chunk)
                        if total > max_total_bytes:
                            raise ZipTooLarge(f"more than {max_total_bytes} bytes uncompressed")
                        chunks.append(chunk)
            except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, OSError,
                    RuntimeError, ValueError) as exc:  # ValueError: offsets before the start
                raise InvalidZip(f"{info.filename} cannot be read ({exc})") from None
            name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            parts.append(Part(content_type=type_for_name(name), data=b"".join(chunks),
                              content_id=name, filename=name))
        return parts


def _part_name(part: Part, index: int) -> str:
    base = None
    for candidate in (part.filename, part.content_id):
        if candidate:
            base = _safe(candidate)
            if base:
                break
    base = base or f"part{index}"
    media = media_type(part.content_type)
    wanted = MEDIA_EXTENSIONS.get(media)
    ext = _extension(base)
    if wanted is None:
        return base if ext else base + ".bin"
    have = EXTENSION_TYPES.get(ext)
    if have is not None and MEDIA_EXTENSIONS.get(have) == wanted:
        return base
    return base + wanted


def _safe(name: str) -> str:
    name = name.strip().strip("<>").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", name).lstrip(".")[:100]


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 1
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    while candidate.lower() in seen:  # unique ignoring case: zips are unpacked on any system
        n += 1
        candidate = f"{stem}-{n}{ext}"
    seen.add(candidate.lower())
    return candidate


def _compressible(name: str) -> bool:
    media = type_for_name(name)
    return media.startswith("text/") or media in ("application/smil", "application/pdf",
                                                  "application/octet-stream", "image/bmp")


def _is_metadata(name: str) -> bool:
    return name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1] == ".DS_Store"


def _date_time(when: float | datetime | None) -> tuple[int, int, int, int, int, int]:
    if when is None:
        return _EPOCH
    dt = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    if dt.year < 1980:
        return _EPOCH
    return (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
