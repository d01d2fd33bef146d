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

from fakemms.filenames import base_name, shorten
from fakemms.models import Part
from fakemms.protocols.legacy.errors import InvalidZip, ZipTooLarge

DEFAULT_MAX_ENTRIES = 100
DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ENTRY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_RATIO = 200.0  # inflated / compressed bytes of one entry
RATIO_FLOOR = 1024 * 1024  # the ratio is judged once an entry has inflated past this
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
             max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
             max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
             max_ratio: float = DEFAULT_MAX_RATIO) -> list[Part]:
    """The files of a zip as parts (``filename`` and ``content_id`` = the file's base name
    made safe and unique, as ``entry_names`` makes them; media type from its extension), in
    archive order; directories and macOS ``__MACOSX/`` metadata skipped. Raises
    ``ZipTooLarge`` past ``max_entries`` entries, ``max_total_bytes`` uncompressed in all or
    ``max_entry_bytes`` in one entry (declared or actually inflated, read in bounded chunks),
    or an entry inflating more than ``max_ratio`` times its compressed size (past 1 MiB);
    ``InvalidZip`` when it is not a readable zip (corrupt, encrypted, unknown compression)."""
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
        for info in files:
            _check_declared(info, max_entry_bytes, max_ratio)
        parts: list[Part] = []
        seen: set[str] = set()
        total = 0
        for info in files:
            if info.flag_bits & 0x1:
                raise InvalidZip(f"{info.filename} is encrypted")
            chunks: list[bytes] = []
            size = 0
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(_CHUNK):  # bounded reads: a bomb is never inflated
                        total += len(chunk)
                        size += len(chunk)
                        if total > max_total_bytes:
                            raise ZipTooLarge(f"more than {max_total_bytes} bytes uncompressed")
                        _check_inflated(info, size, max_entry_bytes, max_ratio)
                        chunks.append(chunk)
            except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, OSError,
                    RuntimeError, ValueError) as exc:  # ValueError: offsets before the start
                raise InvalidZip(f"{info.filename} cannot be read ({exc})") from None
            # the sender's name, base name only (no ../, /, \, C:, NUL, CR/LF, RTL overrides)
            name = _unique(base_name(info.filename) or f"part{len(parts) + 1}", seen)
            parts.append(Part(content_type=type_for_name(name), data=b"".join(chunks),
                              content_id=name, filename=name))
        return parts


def _check_declared(info: zipfile.ZipInfo, max_entry_bytes: int, max_ratio: float) -> None:
    """An entry's declared sizes against the caps, before anything is inflated."""
    if info.file_size > max_entry_bytes:
        raise ZipTooLarge(f"{_shown(info.filename)} is {info.file_size} bytes uncompressed; "
                          f"at most {max_entry_bytes} per file are accepted")
    _check_ratio(info, info.file_size, max_ratio)


def _check_inflated(info: zipfile.ZipInfo, size: int, max_entry_bytes: int,
                    max_ratio: float) -> None:
    """What an entry has actually inflated to so far (its header may lie)."""
    if size > max_entry_bytes:
        raise ZipTooLarge(f"{_shown(info.filename)} inflates past {max_entry_bytes} bytes; "
                          f"at most {max_entry_bytes} per file are accepted")
    _check_ratio(info, size, max_ratio)


def _check_ratio(info: zipfile.ZipInfo, size: int, max_ratio: float) -> None:
    if size > RATIO_FLOOR and size > max_ratio * max(info.compress_size, 1):
        raise ZipTooLarge(f"{_shown(info.filename)} inflates more than {max_ratio:g} times "
                          f"its {info.compress_size} compressed bytes (a zip bomb)")


def _shown(name: str) -> str:
    """An entry name fit for an error message: printable, short."""
    return repr(name[:80] + ("..." if len(name) > 80 else ""))


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
    """A base name with only ``A-Za-z0-9._-``: no directory (``../``, ``/``, ``\\``, ``C:``),
    no NUL, control or unicode characters, no leading dot, at most 100 long (keeping the
    extension)."""
    name = name.strip().strip("<>").replace("\\", "/").rsplit("/", 1)[-1]
    return shorten(_UNSAFE.sub("_", name).lstrip("."))


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
