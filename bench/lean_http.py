"""The load generator's HTTP/1.1 client: keep-alive connections on asyncio's Protocol, answers parsed by
httptools (llhttp, the parser Node.js uses), nothing else.

Why not aiohttp's client: the load generator shares the machine's two cores with the server and PostgreSQL
(pgbench's own client is C), and aiohttp's client spends ≈ 0.2 ms of CPU per request here — as much as the
empty server handler it measures; this one ≈ 0.09 ms. It offers the part of aiohttp's ClientSession API the
samplers use: `async with session.post(path, data=…, headers=…) as resp: resp.status, resp.headers,
await resp.read()`. Not supported: HEAD (the parser cannot know such an answer has no body), redirects,
cookies, TLS.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

# What aiohttp's client sends with every request, as other HTTP clients do: the server parses the same
# request from this client as from that one, so only the load generator's own cost differs.
_CLIENT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "citypay-bench lean_http",
}


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1 (counted by the load generator as an error)."""


class LeanResponse:
    __slots__ = ("_body", "_headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self._headers, self._body = status, headers, body

    @property
    def headers(self) -> CIMultiDict[str]:
        """Looked up in any case, like aiohttp's."""
        return CIMultiDict(self._headers)

    async def read(self) -> bytes:
        return self._body

    async def text(self) -> str:
        return self._body.decode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; httptools calls the on_* methods as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[LeanResponse] | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.reusable = True
        self.closed = False

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.reusable = True, False
        self._fail(exc or HttpError("connection closed before the answer ended"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.reusable = False  # bytes nobody asked for: never send on this connection again
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.reusable = False
            self._fail(HttpError(f"not HTTP/1.1: {exc}"))

    # httptools' side
    def on_message_begin(self) -> None:
        if self.waiter is None:  # a second answer in the same bytes as the one awaited: nobody asked for it
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer; the real one follows
            self.headers, self.body = [], []
            return
        if not self.parser.should_keep_alive():
            self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(LeanResponse(status, self.headers, b"".join(self.body)))

    def send(self, request: bytes) -> asyncio.Future[LeanResponse]:
        assert self.transport is not None and self.waiter is None
        self.headers, self.body = [], []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class _Call:
    """What `session.request(…)` returns: awaited inside `async with`, like aiohttp's."""

    __slots__ = ("_args", "_session")

    def __init__(self, session: LeanSession, args: tuple[str, str, dict[str, str] | None, bytes | None]):
        self._session, self._args = session, args

    async def __aenter__(self) -> LeanResponse:
        return await self._session.send(*self._args)

    async def __aexit__(self, *exc: object) -> None:
        return None


class LeanSession:
    """Keep-alive connections to one host, opened as needed and reused when idle (one per concurrent
    request, as aiohttp's unlimited connector does)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port is supported: {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.host_header = f"{self.host}:{self.port}".encode()
        self.timeout = timeout
        self.idle: list[_Connection] = []
        self.all: set[_Connection] = set()

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
    ) -> _Call:
        if method.upper() == "HEAD":
            raise ValueError("HEAD is not supported (see the module's docstring)")
        return _Call(self, (method, path, headers, data))

    def post(self, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> _Call:
        return _Call(self, ("POST", path, headers, data))

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> _Call:
        return _Call(self, ("GET", path, headers, None))

    def _encode(self, method: str, path: str, headers: dict[str, str] | None, body: bytes | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for name, value in {**_CLIENT_HEADERS, **(headers or {})}.items():
            lines.append(f"{name}: {value}".encode())  # UTF-8, as aiohttp sends them
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: " + str(len(body or b"")).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def send(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes | None
    ) -> LeanResponse:
        conn = await self._connection()
        try:
            response = await asyncio.wait_for(
                conn.send(self._encode(method, path, headers, body)), self.timeout
            )
        except BaseException:
            self._drop(conn)
            raise
        if conn.reusable and not conn.closed:
            self.idle.append(conn)
        else:
            self._drop(conn)
        return response

    async def _connection(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable and not conn.closed:
                return conn
            self._drop(conn)  # closed while idle, or sent bytes nobody asked for
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(_Connection, self.host, self.port), self.timeout
        )
        self.all.add(conn)
        return conn

    def _drop(self, conn: _Connection) -> None:
        self.all.discard(conn)
        if conn.transport is not None:
            conn.transport.close()

    async def close(self) -> None:
        for conn in list(self.all):
            self._drop(conn)
        self.idle.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run

    async def __aenter__(self) -> LeanSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
