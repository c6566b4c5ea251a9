"""The load generator's lean HTTP/1.1 client (bench/lean_http.py) against a real aiohttp server: what it reads
must be what the server sent, or the benchmarks would count answers they never got; an answer cut short is
an error, never a success."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))  # appended: shadows no package
from lean_http import HttpError, LeanSession

BIG = bytes(range(256)) * 1000  # binary, larger than one socket read


async def _app_server(aiohttp_server):
    peers: set = set()

    async def echo(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "body": body.decode(),
                "x": request.headers.get("X-Thing"),
                "accept_encoding": request.headers.get("Accept-Encoding"),
            },
            status=201,
            headers={"X-Answer": "yes"},
        )

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG, content_type="image/png")

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"first;", b"", b"second;" * 500, b"third"):
            if part:
                await resp.write(part)
                await asyncio.sleep(0.01)  # the chunks arrive in pieces
        await resp.write_eof()
        return resp

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def closing(request: web.Request) -> web.Response:
        return web.Response(text="bye", headers={"Connection": "close"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "100"})
        await resp.prepare(request)
        await resp.write(b"only part")
        request.transport.close()
        return resp

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/big", big)
    app.router.add_get("/chunked", chunked)
    app.router.add_delete("/empty", empty)
    app.router.add_get("/closing", closing)
    app.router.add_get("/slow", slow)
    app.router.add_get("/cut", cut)
    server = await aiohttp_server(app)
    return server, peers


async def test_answers_are_read_exactly_and_connections_are_kept_alive(aiohttp_server):
    server, peers = await _app_server(aiohttp_server)
    async with LeanSession(str(server.make_url("/"))) as session:
        for n in range(5):
            async with session.post("/echo", data=f"body {n}".encode(), headers={"X-Thing": "é"}) as resp:
                assert resp.status == 201
                assert resp.headers["x-answer"] == resp.headers["X-Answer"] == "yes"
                assert resp.headers.get("Content-Type", "").startswith("application/json")
                doc = json.loads(await resp.read())
            # the headers every HTTP client sends come too: the server parses what it would from aiohttp's
            assert doc == {
                "method": "POST",
                "body": f"body {n}",
                "x": "é",
                "accept_encoding": "gzip, deflate",
            }
        async with session.request("GET", "/big") as resp:
            assert (resp.status, await resp.read()) == (200, BIG)
        async with session.get("/chunked") as resp:
            assert await resp.read() == b"first;" + b"second;" * 500 + b"third"
        async with session.request("DELETE", "/empty") as resp:
            assert (resp.status, await resp.read()) == (204, b"")
    assert len(peers) == 1  # one client at a time: every request went on the same connection


async def test_concurrent_requests_each_get_their_own_answer(aiohttp_server):
    server, _ = await _app_server(aiohttp_server)
    async with LeanSession(str(server.make_url("/"))) as session:

        async def one(n: int) -> str:
            async with session.post("/echo", data=str(n).encode()) as resp:
                return json.loads(await resp.read())["body"]

        assert await asyncio.gather(*(one(n) for n in range(40))) == [str(n) for n in range(40)]
        assert len(session.idle) == len(session.all) <= 40


async def test_a_closing_server_a_cut_answer_and_a_timeout_are_told_apart(aiohttp_server):
    server, _ = await _app_server(aiohttp_server)
    async with LeanSession(str(server.make_url("/")), timeout=0.5) as session:
        async with session.get("/closing") as resp:
            assert (resp.status, await resp.read()) == (200, b"bye")
        assert session.idle == []  # Connection: close is not reused
        with pytest.raises((HttpError, ConnectionError)):
            async with session.get("/cut"):
                pass
        with pytest.raises(TimeoutError):
            async with session.get("/slow"):
                pass
        assert session.all == set()  # the cut and timed-out connections are dropped
        with pytest.raises(ValueError, match="HEAD"):
            session.request("HEAD", "/big")
        async with session.post("/echo", data=b"after") as resp:  # and the session goes on
            assert resp.status == 201


async def test_a_connection_that_sends_more_than_its_answer_is_not_used_again():
    """Bytes after the answer (a server bug, or an answer this client misread) would be taken for the next
    answer on that connection: the connection is dropped, and the next request opens a new one."""
    peers: list = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername"))
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Stale\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LeanSession(f"http://127.0.0.1:{port}/", timeout=5) as session:
            for _ in range(3):
                async with session.get("/") as resp:
                    assert (resp.status, await resp.read()) == (200, b"ok")
                await asyncio.sleep(0.05)  # the extra bytes arrive while the connection is idle
        assert len(peers) == 3
    finally:
        server.close()
        await server.wait_closed()
