"""QR images of VietQR payloads (and of receipt verification links): PNG through Pillow, SVG through qrcode's
path factory. Error correction M, a quiet zone of 4 modules. A payload never changes, so renders are cached
in-process and served with a strong ETag as immutable.

A PNG render costs about 10 ms of pure Python: served from the event loop it would stall every other request
of the process for that long. So the server renders PNGs with `render_qr_png`: from an LRU of rendered bytes
keyed by the exact payload and size, else in a small process pool (created at the first render, shut down
with the app: `qr_renderer`), one render per key at a time however many ask for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

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


def _check_size(size: int) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be {MIN_SIZE}–{MAX_SIZE} px")


def render_png(text: str, size: int) -> bytes:
    """A size×size PNG. Modules are whole pixels (nearest-neighbour scaling by an integer factor); the pixels
    left over widen the white margin, so the code stays crisp at every size (in a render process)."""
    _check_size(size)
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


qr_png = functools.lru_cache(maxsize=512)(render_png)  # for callers without an event loop (tests, tools)


# PNG renders off the event loop ---------------------------------------------------------------------------

RENDER_PROCESSES = 2  # per server process: renders are rare next to requests, and cached once done
RENDER_NICENESS = 10
PNG_CACHE_ENTRIES = 1024  # about 1–4 KB each


@dataclass
class PngCacheInfo:
    hits: int
    misses: int
    entries: int


class _PngCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, key: tuple[str, int]) -> bytes | None:
        png = self._entries.get(key)
        if png is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return png

    def put(self, key: tuple[str, int], png: bytes) -> None:
        self._entries[key] = png
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


_png_cache = _PngCache(PNG_CACHE_ENTRIES)
_rendering: dict[tuple[str, int], asyncio.Future[bytes]] = {}
_executor: ProcessPoolExecutor | None = None


def png_cache_info() -> PngCacheInfo:
    return PngCacheInfo(_png_cache.hits, _png_cache.misses, len(_png_cache._entries))


def _render_pool() -> Executor:
    global _executor
    if _executor is None:
        # forkserver: render processes are forked from a small clean server process, never from this one
        # (which has an event loop, a database pool and threads that a plain fork would copy mid-flight).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["__main__", __name__])
        _executor = ProcessPoolExecutor(
            max_workers=RENDER_PROCESSES, mp_context=context, initializer=_yield_to_requests
        )
    return _executor


def _yield_to_requests() -> None:
    """Render processes run at a lower priority: on a busy machine the cores go to the server processes
    first (a render waits, not the requests beside it)."""
    with contextlib.suppress(OSError):
        os.nice(RENDER_NICENESS)


async def render_qr_png(text: str, size: int) -> bytes:
    """The PNG of `render_png`, from the cache or rendered in the pool (the event loop only waits)."""
    _check_size(size)
    key = (text, size)
    png = _png_cache.get(key)
    if png is not None:
        return png
    loop = asyncio.get_running_loop()
    pending = _rendering.get(key)
    if pending is not None and pending.get_loop() is loop:
        return await asyncio.shield(pending)  # someone asked first: share their render
    future: asyncio.Future[bytes] = loop.run_in_executor(_render_pool(), render_png, text, size)
    _rendering[key] = future
    future.add_done_callback(functools.partial(_finish_render, key))
    # Shielded: a client that goes away does not cancel a render others wait for (or the cache will keep).
    return await asyncio.shield(future)


def _finish_render(key: tuple[str, int], future: asyncio.Future[bytes]) -> None:
    if _rendering.get(key) is future:
        del _rendering[key]
    if not future.cancelled() and future.exception() is None:
        _png_cache.put(key, future.result())


async def shutdown_render_pool() -> None:
    global _executor
    executor, _executor = _executor, None
    if executor is not None:
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


async def qr_renderer(app: object) -> AsyncIterator[None]:
    """cleanup_ctx: the render processes (started at the first cold render) stop with the app."""
    yield
    await shutdown_render_pool()


def _svg_image(text: str) -> SvgPathFillImage:
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=QUIET_ZONE,
        image_factory=SvgPathFillImage,
    )
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image()


@functools.lru_cache(maxsize=512)
def qr_svg(text: str) -> bytes:
    """A standalone SVG document (XML declaration, white background, a viewBox so it scales)."""
    out = io.BytesIO()
    _svg_image(text).save(out)
    return out.getvalue()


@functools.lru_cache(maxsize=256)
def qr_svg_inline(text: str) -> str:
    """The same SVG as an element to embed in an HTML page (no XML declaration)."""
    return _svg_image(text).to_string(encoding="unicode")


def qr_etag(text: str, variant: str) -> str:
    """Strong ETag of one rendering of one payload."""
    digest = hashlib.sha256(f"{RENDERER}\0{variant}\0{text}".encode()).hexdigest()[:32]
    return f'"{digest}"'
