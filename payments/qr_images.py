"""QR images of VietQR payloads (and of receipt verification links): PNG through Pillow, SVG through qrcode's
path factory. Error correction M, a quiet zone of 4 modules. A payload never changes, so renders are cached
in-process and served with a strong ETag as immutable.

A PNG render costs about 10 ms of pure Python: served from the event loop it would stall every other request
of the process for that long. So the server renders PNGs with `render_qr_png`: from an LRU of rendered bytes
keyed by the exact payload and size, else in a few render processes of its own (`RenderPool`), one render per
key at a time however many ask for it. The render processes run `payments/qr_render.py` as a script, which
imports qrcode and Pillow and nothing of the app; they start with the app, in the background (`qr_renderer`),
so the first cold render does not wait for a process to start, and stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import qrcode
import qrcode.constants
import structlog
from qrcode.image.svg import SvgPathFillImage

from payments import qr_render
from payments.qr_render import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, QUIET_ZONE, render_png

__all__ = [
    "DEFAULT_SIZE",
    "MAX_SIZE",
    "MIN_SIZE",
    "QUIET_ZONE",
    "png_cache_info",
    "qr_etag",
    "qr_png",
    "qr_renderer",
    "qr_svg",
    "qr_svg_inline",
    "render_png",
    "render_qr_png",
    "shutdown_render_pool",
]

log = structlog.get_logger("citypay.qr")

RENDERER = "qr-v1"  # part of every ETag: bump when the rendering changes

qr_png = functools.lru_cache(maxsize=512)(render_png)  # for callers without an event loop (tests, tools)


# PNG renders off the event loop ---------------------------------------------------------------------------

RENDER_PROCESSES = 2  # per server process: renders are rare next to requests, and cached once done
RENDER_STOP_GRACE_S = 2.0  # after its stdin closes, a render process has this long to exit before SIGKILL
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


class RenderProcessLost(RuntimeError):
    """A render process ended (or stopped answering) before it answered."""


class _RenderProcess:
    """One render process: `python -P payments/qr_render.py`, asked one request at a time over its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> _RenderProcess:
        # A fresh interpreter running the render module as a script: not a fork of this process (which has an
        # event loop, a database pool and threads), and not a multiprocessing child (which would import this
        # process's __main__, the whole app, and the `payments` package). -P: the script's folder (payments/)
        # is not put on sys.path.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            qr_render.__file__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ask(self, text: str, size: int) -> bytes:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(qr_render.request(text, size))
            await stdin.drain()
            status, length = qr_render.ANSWER.unpack(await stdout.readexactly(qr_render.ANSWER.size))
            body = await stdout.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise RenderProcessLost(f"render process {self.pid} ended: {exc!r}") from exc
        if status != qr_render.OK:
            raise ValueError(body.decode(errors="replace"))
        return body

    async def stop(self) -> None:
        """Close its stdin (it exits at the end of its input), then wait, then kill."""
        if self.process.returncode is not None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), RENDER_STOP_GRACE_S)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        except BaseException:  # cancelled: do not leave it running
            self.kill()
            raise

    async def reaped(self) -> None:
        """Wait until asyncio has seen a killed process end: its transport closes in those callbacks, which
        an event loop that ends first never runs (the transport would be collected unclosed)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), RENDER_STOP_GRACE_S)

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class RenderPool:
    """Up to `size` render processes of one event loop; a request takes an idle one (or starts one when
    fewer than `size` run, or waits). A process that fails to answer is killed and replaced on demand."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or render_processes()
        self.loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self.size)
        self._idle: list[_RenderProcess] = []
        self._running: set[_RenderProcess] = set()
        self._reaping: set[asyncio.Future[None]] = set()  # killed processes until asyncio has seen them end
        self._closed = False

    @property
    def pids(self) -> list[int]:
        return sorted(p.pid for p in self._running)

    async def _take(self) -> _RenderProcess:
        await self._slots.acquire()
        try:
            if self._closed:
                raise RuntimeError("the render pool is shut down")
            if self._idle:
                return self._idle.pop()
            process = await _RenderProcess.start()
        except BaseException:
            self._slots.release()
            raise
        self._running.add(process)
        return process

    def _give_back(self, process: _RenderProcess, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.append(process)
        else:
            self._running.discard(process)
            process.kill()
            reaping = asyncio.ensure_future(process.reaped())
            self._reaping.add(reaping)
            reaping.add_done_callback(self._reaping.discard)
        self._slots.release()

    async def ask(self, text: str, size: int) -> bytes:
        process = await self._take()
        healthy = False
        try:
            png = await process.ask(text, size)
            healthy = True
            return png
        except ValueError:  # the render refused its input: the process is fine
            healthy = True
            raise
        finally:
            self._give_back(process, healthy)

    async def imported_modules(self) -> list[str]:
        """sys.modules of a render process (its ping: the answer comes once its imports are done)."""
        return (await self.ask("", qr_render.MODULES)).decode().split("\n")

    async def warm(self) -> None:
        """Start every render process and wait until each has imported what it renders with."""
        processes = []
        try:
            for _ in range(self.size):
                processes.append(await self._take())
            await asyncio.gather(*(p.ask("", qr_render.MODULES) for p in processes))
        except BaseException:
            for process in processes:
                self._give_back(process, False)
            processes = []
            raise
        finally:
            for process in processes:
                self._give_back(process, True)

    async def close(self) -> None:
        self._closed = True
        running, self._running, self._idle = list(self._running), set(), []
        await asyncio.gather(*(p.stop() for p in running), *self._reaping, return_exceptions=True)

    def kill_all(self) -> None:
        """For a pool whose event loop is gone: its processes are killed, not waited for."""
        self._closed = True
        for process in self._running:
            process.kill()
        self._running.clear()
        self._idle.clear()


def render_processes() -> int:
    """Render processes per server process: CITYPAY_QR_RENDER_PROCESSES, else RENDER_PROCESSES."""
    try:
        return max(1, int(os.environ.get("CITYPAY_QR_RENDER_PROCESSES", RENDER_PROCESSES)))
    except ValueError:
        return RENDER_PROCESSES


_png_cache = _PngCache(PNG_CACHE_ENTRIES)
_rendering: dict[tuple[str, int], asyncio.Future[bytes]] = {}
_pool: RenderPool | None = None


def png_cache_info() -> PngCacheInfo:
    return PngCacheInfo(_png_cache.hits, _png_cache.misses, len(_png_cache._entries))


def render_pool() -> RenderPool:
    """This event loop's render pool (one per server process)."""
    global _pool
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool.loop is not loop:
        _pool.kill_all()  # left by an event loop that ended without shutting it down (tests)
        _pool = None
    if _pool is None:
        _pool = RenderPool()
    return _pool


async def render_qr_png(text: str, size: int) -> bytes:
    """The PNG of `render_png`, from the cache or rendered in a render process (the event loop only waits)."""
    qr_render.check_size(size)
    key = (text, size)
    png = _png_cache.get(key)
    if png is not None:
        return png
    loop = asyncio.get_running_loop()
    pending = _rendering.get(key)
    if pending is not None and pending.get_loop() is loop:
        return await asyncio.shield(pending)  # someone asked first: share their render
    future: asyncio.Future[bytes] = asyncio.ensure_future(render_pool().ask(text, size))
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
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


async def _warm(pool: RenderPool) -> None:
    try:
        await pool.warm()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a render starts its process when asked (and fails then, if it must)
        log.warning("qr_render_pool_not_started", error=repr(exc))


def warm_at_start() -> bool:
    """CITYPAY_QR_RENDER_WARM=0: the render processes start at the first cold render instead of with the app
    (the test suite starts a thousand apps that render nothing)."""
    return os.environ.get("CITYPAY_QR_RENDER_WARM", "1") != "0"


async def qr_renderer(app: object) -> AsyncIterator[None]:
    """cleanup_ctx: the render processes start with the app, in the background (startup does not wait for
    them), and stop with it."""
    warming = asyncio.create_task(_warm(render_pool())) if warm_at_start() else None
    yield
    if warming is not None:
        warming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warming
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
