"""Requests aiohttp's HTTP parser refuses before the app sees them get problem+json like every other refusal,
over a raw socket as such a client sends them, without echoing the client's bytes."""

from __future__ import annotations

import asyncio
import json

import pytest


async def _raw(client, data: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)  # to the end: the server closes the connection
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return lines[0], headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cr3t\x01tok\r\n\r\n", id="control"
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"s3cr3t" * 4000 + b"\r\n\r\n",
            id="header-too-long",
        ),
        pytest.param(
            b"POST /api/v1/payment-requests HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz-s3cr3t\r\n{}\r\n0\r\n\r\n",
            id="bad-chunk",
        ),
        pytest.param(
            b"GET /s3cr3t HTTP/1.1\r\nHost: x\r\nBad Header Without Colon s3cr3t\r\n\r\n", id="no-colon"
        ),
    ],
)
async def test_a_request_the_parser_refuses_gets_problem_json_without_its_bytes(client, request_bytes):
    status_line, headers, body = await _raw(client, request_bytes)
    status = int(status_line.split(" ")[1])
    assert 400 <= status < 500, status_line
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body[: int(headers["content-length"])])
    assert problem["type"] == "/problems/malformed-http-request" and problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert b"s3cr3t" not in body  # nothing of what the client sent is echoed
    assert headers.get("server") == "citypay"
    # The server goes on serving.
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("path", ["/api/v1/bank-callbacks/payos", "/login", "/api/v1/receipts/verify"])
async def test_a_body_that_does_not_decode_is_a_400_problem_not_a_500(client, encoding, path):
    """No credentials needed to reach these: a body claiming an encoding it is not in."""
    kind = "application/x-www-form-urlencoded" if path == "/login" else "application/json"
    resp = await client.post(
        path, data=b"abcde", headers={"Content-Encoding": encoding, "Content-Type": kind}
    )
    assert resp.status == 400 and resp.content_type == "application/problem+json", await resp.text()
    assert (await resp.json())["type"] == "/problems/malformed-http-request"


@pytest.mark.parametrize("path", ["/receipts/verify", "/login"])
async def test_a_control_character_in_a_multipart_header_is_a_400_not_a_500(client, path):
    body = (
        b"--XyZb\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a\x01.png"\r\n'
        b"Content-Type: image/png\r\n\r\nPNG\r\n--XyZb--\r\n"
    )
    resp = await client.post(path, data=body, headers={"Content-Type": "multipart/form-data; boundary=XyZb"})
    assert resp.status == 400, await resp.text()
