"""The app served over real HTTP on 127.0.0.1 (an ephemeral port) from a background thread with its own event
loop, for clients that cannot share the test's loop: schemathesis (blocking requests) and browsers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from aiohttp import web

T = TypeVar("T")
START_TIMEOUT_S = 30


class LiveServer:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("the live server did not start")
        if self._error is not None:
            raise RuntimeError("the live server failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT_S)
        if self._error is not None:
            raise RuntimeError("the live server failed") from self._error

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Runs `coro` on the server's loop (where `app[POOL]` lives) and returns its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # A short shutdown: browsers and requests sessions keep idle connections open.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()


@contextmanager
def live_server(app: web.Application) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="server")
def server_fixture(make_app) -> Iterator[LiveServer]:
    """`server`: the app from `make_app` (a fresh database) on an ephemeral port. Import it to use it."""
    with live_server(make_app()) as srv:
        yield srv
