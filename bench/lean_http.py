"""The load generator's HTTP/1.1 client: keep-alive connections on asyncio's Protocol, nothing else.

Why not aiohttp's client: the load generator shares the machine's two cores with the server and PostgreSQL
(pgbench's own client is C), and aiohttp's client spends ≈ 0.2 ms of CPU per request here — as much as the
empty server handler it measures. This client does only what the benchmarks send and read: a request with a
body and headers, an answer with Content-Length or chunked transfer coding (or none, read to the close), and
`Connection: close`. It offers the part of aiohttp's ClientSession API the samplers use:
`async with session.post(path, data=…, headers=…) as resp: resp.status, resp.headers, await resp.read()`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

_NO_BODY_STATUSES = frozenset({204, 304})


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1 (counted by the load generator as an error)."""


class LeanResponse:
    __slots__ = ("_body", "_headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self._headers, self._body = status, headers, body

    @property
    def headers(self) -> CIMultiDict[str]:
        """Looked up in any case, like aiohttp's (the parser keeps them lower-cased)."""
        return CIMultiDict(self._headers)

    async def read(self) -> bytes:
        return self._body

    async def text(self) -> str:
        return self._body.decode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as the bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[LeanResponse] | None = None
        self.head: tuple[int, dict[str, str], int] | None = None  # status, headers, where the body starts
        self.reusable = True
        self.closed = False
        self.expect_body = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.reusable = True, False
        if self.waiter is not None and not self.waiter.done():
            if self.head is not None and self._length() is None and not self._chunked():
                self._finish(bytes(self.buffer[self.head[2] :]))  # a body delimited by the close
            else:
                self.waiter.set_exception(exc or HttpError("connection closed before the answer ended"))

    def send(self, request: bytes, *, expect_body: bool) -> asyncio.Future[LeanResponse]:
        assert self.transport is not None and self.waiter is None
        self.buffer.clear()
        self.head, self.expect_body = None, expect_body
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # bytes nobody asked for: do not send on this connection again
            return
        try:
            self._parse()
        except HttpError as exc:
            self.reusable = False
            self.waiter.set_exception(exc)

    def _parse(self) -> None:
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise HttpError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise HttpError(f"not a header line: {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            if headers.get("connection", "").lower() == "close":
                self.reusable = False
            status = int(parts[1])
            if 100 <= status < 200:  # an interim answer: the real one follows
                del self.buffer[: end + 4]
                return self._parse()
            self.head = (status, headers, end + 4)
            if status in _NO_BODY_STATUSES or not self.expect_body:
                self._finish(b"")
                return
        start = self.head[2]
        length = self._length()
        if length is not None:
            if len(self.buffer) - start >= length:
                self._finish(bytes(self.buffer[start : start + length]))
        elif self._chunked():
            body = self._dechunked(start)
            if body is not None:
                self._finish(body)
        else:
            self.reusable = False  # read to the close: connection_lost finishes it

    def _length(self) -> int | None:
        assert self.head is not None
        value = self.head[1].get("content-length")
        if value is None:
            return None
        if not value.isdigit():
            raise HttpError(f"bad Content-Length {value[:40]!r}")
        return int(value)

    def _chunked(self) -> bool:
        assert self.head is not None
        return "chunked" in self.head[1].get("transfer-encoding", "").lower()

    def _dechunked(self, at: int) -> bytes | None:
        """The body when every chunk and the last (empty) one have arrived, else None."""
        body = bytearray()
        while True:
            eol = self.buffer.find(b"\r\n", at)
            if eol < 0:
                return None
            size_text = bytes(self.buffer[at:eol]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                # the last chunk's line, then trailers (none expected), end with an empty line
                return bytes(body) if self.buffer.find(b"\r\n\r\n", eol) >= 0 else None
            if len(self.buffer) < eol + 2 + size + 2:
                return None
            body += self.buffer[eol + 2 : eol + 2 + size]
            at = eol + 2 + size + 2

    def _finish(self, body: bytes) -> None:
        assert self.head is not None and self.waiter is not None
        status, headers, _ = self.head
        waiter, self.waiter = self.waiter, None
        waiter.set_result(LeanResponse(status, headers, body))


class _Call:
    """What `session.request(…)` returns: awaited inside `async with`, like aiohttp's."""

    __slots__ = ("_args", "_response", "_session")

    def __init__(self, session: LeanSession, args: tuple[str, str, dict[str, str] | None, bytes | None]):
        self._session, self._args = session, args

    async def __aenter__(self) -> LeanResponse:
        self._response = await self._session.send(*self._args)
        return self._response

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
        return _Call(self, (method, path, headers, data))

    def post(self, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> _Call:
        return _Call(self, ("POST", path, headers, data))

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> _Call:
        return _Call(self, ("GET", path, headers, None))

    def _encode(self, method: str, path: str, headers: dict[str, str] | None, body: bytes | None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for name, value in (headers or {}).items():
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
                conn.send(self._encode(method, path, headers, body), expect_body=method != "HEAD"),
                self.timeout,
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
            if not conn.closed:
                return conn
            self.all.discard(conn)
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
