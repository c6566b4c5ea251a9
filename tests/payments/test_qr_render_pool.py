"""Cold QR PNG renders run in a process pool and are cached by payload and size: the event loop keeps
serving while they run, and a payload asked for by many at once is rendered once."""

from __future__ import annotations

import asyncio
import io
import os
import time

from PIL import Image

from payments import qr_images
from payments.qr_images import png_cache_info, render_png, render_qr_png, shutdown_render_pool


def payload(n: int) -> str:
    return f"00020101021238570010A00000072701270006970422011300000000{n:05d}0208QRIBFTTA5303704540{n % 9 + 1}"


async def test_a_cold_render_runs_in_another_process_and_matches_the_direct_render():
    try:
        png = await render_qr_png(payload(1), 300)
        assert png == render_png(payload(1), 300)
        assert Image.open(io.BytesIO(png)).size == (300, 300)
        executor = qr_images._executor
        assert executor is not None
        workers = {p.pid for p in executor._processes.values()}  # type: ignore[union-attr]
        assert workers and os.getpid() not in workers
        for pid in workers:  # at a lower priority than the server: requests get the cores first
            own = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(own + qr_images.RENDER_NICENESS, 19)
        hits = png_cache_info().hits
        assert await render_qr_png(payload(1), 300) == png
        assert png_cache_info().hits == hits + 1  # the second time from the cache, not the pool
    finally:
        await shutdown_render_pool()
    assert qr_images._executor is None


async def test_many_asking_for_one_payload_share_one_render():
    try:
        misses = png_cache_info().misses
        pngs = await asyncio.gather(*(render_qr_png(payload(2), 360) for _ in range(20)))
        assert len(set(pngs)) == 1
        assert png_cache_info().misses == misses + 20  # every caller missed the cache …
        assert not qr_images._rendering  # … and all waited on one render, now finished
    finally:
        await shutdown_render_pool()


async def test_cold_renders_leave_the_event_loop_free():
    texts = [payload(100 + n) for n in range(16)]
    started = time.perf_counter()
    for text in texts[:4]:
        render_png(text, 1024)  # what the loop would be blocked for, rendering in place
    per_render = (time.perf_counter() - started) / 4
    try:
        await render_qr_png(payload(99), 128)  # the pool's processes are up
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.002)
                lags.append(time.perf_counter() - before - 0.002)

        tick = asyncio.create_task(ticker())
        await asyncio.gather(*(render_qr_png(text, 1024) for text in texts))
        stop.set()
        await tick
    finally:
        await shutdown_render_pool()
    # In place, 16 renders would have held the loop for 16 × per_render; beside the pool no tick waits
    # even one render's time.
    assert max(lags) < per_render, (max(lags), per_render)
