"""Cold QR PNG renders run in render processes of their own and are cached by payload and size: the event
loop keeps serving while they run, a payload asked for by many at once is rendered once, and a render process
imports nothing of the app."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time

import pytest
from PIL import Image

from payments import qr_images
from payments.qr_images import png_cache_info, render_png, render_qr_png, shutdown_render_pool

# What a render process must not have imported: the app, and the server's libraries.
APP_MODULES = {
    "aiohttp",
    "asyncpg",
    "main",
    "__mp_main__",
    "core",
    "payments",
    "parking",
    "ledger",
    "structlog",
}


def app_modules(names: list[str] | set[str]) -> list[str]:
    return sorted(name for name in names if name.split(".")[0] in APP_MODULES)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive (its parent has yet to reap it)
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def payload(n: int) -> str:
    return f"00020101021238570010A00000072701270006970422011300000000{n:05d}0208QRIBFTTA5303704540{n % 9 + 1}"


async def test_a_cold_render_runs_in_another_process_and_matches_the_direct_render():
    try:
        png = await render_qr_png(payload(1), 300)
        assert png == render_png(payload(1), 300)
        assert Image.open(io.BytesIO(png)).size == (300, 300)
        pool = qr_images._pool
        assert pool is not None
        workers = set(pool.pids)
        assert workers and os.getpid() not in workers
        for pid in workers:  # in the idle class, below the server: requests get the cores first
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        hits = png_cache_info().hits
        assert await render_qr_png(payload(1), 300) == png
        assert png_cache_info().hits == hits + 1  # the second time from the cache, not the pool
    finally:
        await shutdown_render_pool()
    assert qr_images._pool is None
    assert not any(alive(pid) for pid in workers)


async def test_many_asking_for_one_payload_share_one_render():
    try:
        misses = png_cache_info().misses
        pngs = await asyncio.gather(*(render_qr_png(payload(2), 360) for _ in range(20)))
        assert len(set(pngs)) == 1
        assert png_cache_info().misses == misses + 20  # every caller missed the cache …
        assert not qr_images._rendering  # … and all waited on one render, now finished
    finally:
        await shutdown_render_pool()


async def test_cold_renders_leave_the_event_loop_free(monkeypatch):
    """No timing is compared: rendering in this process is made impossible, so every PNG that comes back was
    rendered elsewhere, and the loop's own ticks are counted while the renders run."""
    texts = [payload(100 + n) for n in range(16)]
    expected = {text: render_png(text, 1024) for text in texts[:2]}  # in place, before it is forbidden
    in_place: list[str] = []

    def forbidden(text: str, size: int) -> bytes:
        in_place.append(text)
        raise AssertionError("a render ran in the server's process")

    monkeypatch.setattr(qr_images, "render_png", forbidden)
    monkeypatch.setattr(qr_images.qr_render, "render_png", forbidden)
    try:
        await render_qr_png(payload(99), 128)  # the pool's processes are up
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.002)
                ticks += 1

        tick = asyncio.create_task(ticker())
        pngs = await asyncio.gather(*(render_qr_png(text, 1024) for text in texts))
        ticks_during_renders = ticks
        stop.set()
        await tick
    finally:
        await shutdown_render_pool()
    assert in_place == []
    assert [pngs[0], pngs[1]] == [expected[texts[0]], expected[texts[1]]]  # the same image, from elsewhere
    # 16 renders of 1024 px take tens of milliseconds each; a loop blocked by them would barely tick.
    assert ticks_during_renders >= 16, ticks_during_renders


async def test_a_render_process_imports_nothing_of_the_app():
    # The check can fail: this (test) process has imported the app and its libraries.
    ours = {name.split(".")[0] for name in app_modules(set(sys.modules))}
    assert {"aiohttp", "asyncpg", "core", "payments"} <= ours
    try:
        modules = await qr_images.render_pool().imported_modules()
        assert "qrcode" in modules and "PIL.Image" in modules  # it is a render process, with what it needs …
        assert app_modules(modules) == []  # … and nothing of the app
        assert "payments.qr_render" not in modules and "__main__" in modules  # the module runs as its script
    finally:
        await shutdown_render_pool()


async def test_a_render_that_fails_is_the_callers_error_and_a_lost_process_is_replaced():
    try:
        pool = qr_images.render_pool()
        with pytest.raises(ValueError, match="too small"):  # a long text at the smallest size
            await render_qr_png("x" * 2000, 128)
        assert len(pool.pids) == 1  # the process that refused it goes on
        (pid,) = pool.pids
        (killed,) = pool._idle
        os.kill(pid, 9)
        with pytest.raises(qr_images.RenderProcessLost):
            await pool.ask(payload(3), 200)
        assert pool.pids == []
        assert await render_qr_png(payload(3), 200) == render_png(payload(3), 200)  # a new process
        assert pool.pids and pool.pids != [pid]
    finally:
        await shutdown_render_pool()
    # The killed process was waited for before the pool said it was shut down: asyncio closed its transport
    # then (else an event loop ending now would leave it to be collected unclosed, a ResourceWarning later).
    assert not pool._reaping and killed.process._transport.is_closing()


async def test_the_app_starts_its_render_processes_in_the_background_and_stops_them(
    make_app, aiohttp_client, monkeypatch
):
    monkeypatch.setenv("CITYPAY_QR_RENDER_WARM", "1")  # as a server runs (the suite turns it off)
    started = time.perf_counter()
    client = await aiohttp_client(make_app())
    startup_s = time.perf_counter() - started
    pool = qr_images._pool
    assert pool is not None
    for _ in range(200):  # warming: both processes start and import what they render with
        if len(pool.pids) == pool.size and len(pool._idle) == pool.size:
            break
        await asyncio.sleep(0.025)
    pids = pool.pids
    assert len(pids) == qr_images.RENDER_PROCESSES == pool.size, (pids, startup_s)
    assert all(alive(pid) for pid in pids)
    await client.close()  # the app's cleanup
    assert qr_images._pool is None
    assert not any(alive(pid) for pid in pids)


async def test_an_app_stopped_while_its_render_processes_start_leaves_none(
    make_app, aiohttp_client, monkeypatch
):
    monkeypatch.setenv("CITYPAY_QR_RENDER_WARM", "1")
    client = await aiohttp_client(make_app())
    pool = qr_images._pool
    assert pool is not None
    await asyncio.sleep(0)  # the warming has begun (or is about to): stop at once
    await client.close()
    assert not any(alive(pid) for pid in pool.pids)
    assert pool._running == set()
