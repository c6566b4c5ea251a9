"""QR images of VietQR payloads (and of receipt verification links): PNG through Pillow, SVG through qrcode's
path factory. Error correction M, a quiet zone of 4 modules. A payload never changes, so renders are cached
in-process and served with a strong ETag as immutable."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import qrcode
import qrcode.constants
from PIL import Image
from qrcode.image.svg import SvgPathFillImage

QUIET_ZONE = 4
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 128, 1024, 360
RENDERER = "qr-v1"  # part of every ETag: bump when the rendering changes


def _modules(text: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.get_matrix()  # includes the quiet zone


@lru_cache(maxsize=512)
def qr_png(text: str, size: int) -> bytes:
    """A size×size PNG. Modules are whole pixels (nearest-neighbour scaling by an integer factor); the pixels
    left over widen the white margin, so the code stays crisp at every size."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be {MIN_SIZE}–{MAX_SIZE} px")
    matrix = _modules(text)
    count = len(matrix)
    scale = size // count
    if scale < 1:
        raise ValueError(f"{size} px is too small for a {count}-module code")
    raw = bytes(0 if dark else 255 for row in matrix for dark in row)
    code = Image.frombytes("L", (count, count), raw).resize((count * scale,) * 2, Image.Resampling.NEAREST)
    canvas = Image.new("L", (size, size), 255)
    offset = (size - count * scale) // 2
    canvas.paste(code, (offset, offset))
    out = io.BytesIO()
    canvas.convert("1").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _svg_image(text: str) -> SvgPathFillImage:
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=QUIET_ZONE,
        image_factory=SvgPathFillImage,
    )
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image()


@lru_cache(maxsize=512)
def qr_svg(text: str) -> bytes:
    """A standalone SVG document (XML declaration, white background, a viewBox so it scales)."""
    out = io.BytesIO()
    _svg_image(text).save(out)
    return out.getvalue()


@lru_cache(maxsize=256)
def qr_svg_inline(text: str) -> str:
    """The same SVG as an element to embed in an HTML page (no XML declaration)."""
    return _svg_image(text).to_string(encoding="unicode")


def qr_etag(text: str, variant: str) -> str:
    """Strong ETag of one rendering of one payload."""
    digest = hashlib.sha256(f"{RENDERER}\0{variant}\0{text}".encode()).hexdigest()[:32]
    return f'"{digest}"'
