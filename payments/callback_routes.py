"""The bank callback endpoint. Banks are trusted through signatures only, so the route is public and the
body is read raw (the signature covers its exact bytes)."""

from __future__ import annotations

from aiohttp import web

from core.api import PUBLIC, Routes
from core.appkeys import KEYS, POOL, SETTINGS
from payments.banks import IncomingCallback
from payments.callback_directory import CALLBACK_DIRECTORY
from payments.callbacks import MAX_CALLBACK_BYTES, CallbackPolicy, handle_callback
from payments.group_commit import GROUP_COMMITTER

routes = Routes(tags=("bank-callbacks",))
_BANK_CODE = "{bank_code:[a-z0-9][a-z0-9-]{1,30}}"


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however it arrives (TCP segments, chunks), up to limit + 1 bytes: one byte more than
    allowed is enough to refuse it as too large, and we never buffer more than that."""
    body = bytearray()
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def _receive(request: web.Request) -> web.Response:
    raw = await read_body(request, MAX_CALLBACK_BYTES)
    incoming = IncomingCallback(
        bank_code=request.match_info["bank_code"],
        method=request.method,
        content_type=request.content_type,
        headers=request.headers,
        query=request.query,
        query_string=request.query_string,
        raw_body=raw,
        remote=request.remote,
    )
    reply = await handle_callback(
        request.app[POOL],
        request.app[KEYS],
        incoming,
        policy=CallbackPolicy.from_settings(request.app[SETTINGS]),
        committer=request.app.get(GROUP_COMMITTER),
        directory_cache=request.app.get(CALLBACK_DIRECTORY),
    )
    return web.Response(
        status=reply.status, body=reply.body, content_type=reply.content_type, headers=reply.headers
    )


@routes.post(
    f"/api/v1/bank-callbacks/{_BANK_CODE}",
    access=PUBLIC,
    summary="Bank credit callback (citypay-bank-v1; VNPay or payOS by the bank profile's scheme)",
    responses={
        401: "Signature rejected",
        404: "Unknown bank",
        413: "Too large",
        415: "Wrong content type",
        422: "Malformed body",
        503: "Not processed; retry",
    },
)
async def bank_callback(request: web.Request) -> web.Response:
    return await _receive(request)


@routes.get(
    f"/api/v1/bank-callbacks/{_BANK_CODE}",
    access=PUBLIC,
    summary="VNPay IPN (VNPay calls the IPN URL with GET and a signed query string)",
    responses={404: "Unknown bank"},
)
async def bank_callback_ipn(request: web.Request) -> web.Response:
    return await _receive(request)
