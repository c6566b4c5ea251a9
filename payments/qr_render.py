"""The QR PNG render and the render process that runs it. This module imports only the standard library,
qrcode and Pillow: nothing of the app.

The server's render processes run this file as a script (`python -P payments/qr_render.py`, see
`payments/qr_images.py`), so a render process starts in about the time it takes to import qrcode and Pillow:
not the `payments` package (its `__init__` imports the capability), not `main.py` (which a multiprocessing
child re-imports as `__mp_main__`), not aiohttp or asyncpg.

A render process reads requests on stdin and answers each on stdout, one at a time, until stdin closes:

    request:  u32 length of the UTF-8 text, u16 size in px, the text
              (size 0 asks for the names of the imported modules instead, one a line: the pool's ping)
    answer:   u8 status (0: the PNG or the module names follow; 1: an error message follows), u32 length,
              the bytes
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import sys
from typing import BinaryIO

import qrcode
import qrcode.constants
from PIL import Image

QUIET_ZONE = 4
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 128, 1024, 360
RENDER_NICENESS = 10  # where SCHED_IDLE is missing (yield_the_cores): a render waits, not the requests

REQUEST = struct.Struct(">IH")
ANSWER = struct.Struct(">BI")
OK, FAILED = 0, 1
MODULES = 0  # the size that asks for sys.modules instead of a render


def qr_modules(text: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.get_matrix()  # includes the quiet zone


def check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be {MIN_SIZE}–{MAX_SIZE} px")


def render_png(text: str, size: int) -> bytes:
    """A size×size PNG. Modules are whole pixels (nearest-neighbour scaling by an integer factor); the pixels
    left over widen the white margin, so the code stays crisp at every size."""
    check_size(size)
    matrix = qr_modules(text)
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


def request(text: str, size: int) -> bytes:
    data = text.encode()
    return REQUEST.pack(len(data), size) + data


def _read(stream: BinaryIO, count: int) -> bytes | None:
    data = stream.read(count)
    return data if len(data) == count else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests until stdin ends (the server closed it, or the server died)."""
    while (head := _read(stdin, REQUEST.size)) is not None:
        length, size = REQUEST.unpack(head)
        data = _read(stdin, length)
        if data is None:
            return
        try:
            if size == MODULES:
                status, body = OK, "\n".join(sorted(sys.modules)).encode()
            else:
                status, body = OK, render_png(data.decode(), size)
        except Exception as exc:  # any failure is this request's error: the process goes on
            status, body = FAILED, f"{type(exc).__name__}: {exc}".encode()
        stdout.write(ANSWER.pack(status, len(body)) + body)
        stdout.flush()


def yield_the_cores() -> None:
    """Run only on a core nothing else wants (Linux SCHED_IDLE: the scheduler's lowest class, preempted at
    once by any ordinary process) so that a burst of cold renders cannot delay the server's requests; where
    that class does not exist, the lowest niceness we allow ourselves instead."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(RENDER_NICENESS)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the server: it closes stdin
    yield_the_cores()
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
