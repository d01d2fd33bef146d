"""Generated MO content from the seeded generator: numbers in each region's format, subjects,
text, and small valid images (PNG, JPEG, GIF) built here so no imaging library is needed."""

from __future__ import annotations

import struct
import zlib

from fakemms.rng import Rng

# Mobile operator ids seen in the provider's examples (provider-notes.md): 383 AT&T, 79 T-Mobile
# (US); 77 in the UK examples.
OPERATORS = {"US": [383, 79, 350, 474], "UK": [77], "IE": [77], "AU": [77]}


def phone_number(rng: Rng, region: str = "US") -> str:
    """A mobile number in international format without "+"."""
    if region == "UK":
        return f"4477009{rng.randint(0, 99999):05d}"  # Ofcom drama range 07700 900xxx
    if region == "IE":
        return f"35383{rng.randint(0, 9999999):07d}"
    if region == "AU":
        return f"614{rng.randint(0, 99999999):08d}"
    return f"1{rng.choice(['201', '312', '415', '617', '718'])}555{rng.randint(100, 199):04d}"


def subject(rng: Rng) -> str:
    return str(rng.faker.sentence(nb_words=4)).rstrip(".")[:80]


def text(rng: Rng) -> str:
    return str(rng.faker.paragraph(nb_sentences=2))


def image(rng: Rng, content_type: str) -> bytes:
    colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
    size = rng.randint(8, 32)
    if content_type == "image/jpeg":
        return jpeg(size, size, colour)
    if content_type == "image/gif":
        return gif(size, size, colour)
    return png(size, size, colour)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def gif(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid GIF89a; LZW data written 'uncompressed' (a clear code every two pixels keeps the
    code width at 3 bits)."""
    codes: list[int] = []
    pixels = width * height
    for i in range(0, pixels, 2):
        codes += [4] + [1] * min(2, pixels - i)  # clear, then palette index 1
    codes.append(5)  # end of information
    bits = "".join(format(c, "03b")[::-1] for c in codes)
    bits += "0" * (-len(bits) % 8)
    data = bytes(int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8))
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                      for i in range(0, len(data), 255))
    palette = bytes((0, 0, 0)) + bytes(rgb) + bytes(6)
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x81, 0, 0) + palette
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
            + b"\x02" + blocks + b"\x00\x3b")


# ITU T.81 Annex K.3 DC luminance table (categories 0-11); one AC code, EOB, since every
# block of a solid image has only a DC coefficient.
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_VALS = list(range(12))


def _huffman_codes(bits: list[int], vals: list[int]) -> dict[int, tuple[int, int]]:
    codes, code, k = {}, 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def jpeg(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour baseline JPEG (YCbCr, no subsampling, quantisation 1)."""
    r, g, b = rgb
    ycc = (0.299 * r + 0.587 * g + 0.114 * b,
           128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
           128 + 0.5 * r - 0.418688 * g - 0.081312 * b)
    dc_codes = _huffman_codes(_DC_BITS, _DC_VALS)
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    out_bits: list[str] = []
    previous = [0, 0, 0]
    for _ in range(blocks):
        for c in range(3):
            dc = round((ycc[c] - 128) * 8)
            diff, previous[c] = dc - previous[c], dc
            size = abs(diff).bit_length()
            code, length = dc_codes[size]
            out_bits.append(format(code, f"0{length}b"))
            if size:
                value = diff if diff > 0 else diff + (1 << size) - 1
                out_bits.append(format(value, f"0{size}b"))
            out_bits.append("0")  # EOB
    bits = "".join(out_bits)
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff",
                                                                                 b"\xff\x00")

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    return (b"\xff\xd8"
            + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + segment(0xDB, b"\x00" + bytes([1] * 64))
            + segment(0xC0, struct.pack(">BHHB", 8, height, width, 3)
                      + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
            + segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS))
            + segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
            + segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
            + scan + b"\xff\xd9")
