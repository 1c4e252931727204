"""Content sniffing and file-name sanitizing (pure functions)."""

from __future__ import annotations

import pytest

from plugins.uploads._receive import sanitize_filename
from plugins.uploads.sniff import Sniffer, normalize_declared

from .conftest import PDF, image_bytes


def sniff(data: bytes, chunk: int = 3) -> str | None:
    sniffer = Sniffer()
    for start in range(0, len(data), chunk):
        sniffer.feed(data[start : start + chunk])
    return sniffer.result()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("GIF"), "image/gif"),
        (image_bytes("WEBP"), "image/webp"),
        (PDF, "application/pdf"),
        ("plain UTF-8 text: ünïcödé ✓\r\n\tindent\n".encode(), "text/plain"),
        (b"short", "text/plain"),
        (b"text that ends in binary \x00\x01", None),
        (b"caf\xe9 latin-1 is not UTF-8", None),
        (b"escape \x1b[31m sequences", None),
        (image_bytes("BMP"), None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
    ],
)
def test_sniffing(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected
    assert sniff(data, chunk=65536) == expected


def test_utf8_split_across_chunks_is_text() -> None:
    assert sniff("ééééééééééééééééééé".encode(), chunk=1) == "text/plain"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("image/jpg", "image/jpeg"),
        ("application/octet-stream", None),
        (None, None),
        ("", None),
    ],
)
def test_declared_types(declared: str | None, expected: str | None) -> None:
    assert normalize_declared(declared) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\cv.pdf", "cv.pdf"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ('a<b>c:"d"|e?*.txt', "a_b_c__d__e__.txt"),
        ("line\nbreak\x00.txt", "line_break_.txt"),
        (".hidden", "hidden"),
        ("x" * 300 + ".jpeg", "x" * 195 + ".jpeg"),
    ],
)
def test_sanitize_filename(raw: str | None, expected: str) -> None:
    assert sanitize_filename(raw) == expected
