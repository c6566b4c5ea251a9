"""Request id, one canonical log line per request, per-route metrics, and headers on every response."""

from __future__ import annotations

import asyncio
import re
import secrets
import time

import aiohttp.web_response
import structlog
from aiohttp import web

from core.appkeys import ENDPOINT, METRICS, PRINCIPAL, SETTINGS
from core.errors import CLIENT_CLOSED_STATUS, answer_unparsable_with_problems

log = structlog.get_logger("citypay.http")
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _route_label(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def request_context_middleware(request: web.Request, handler):
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _VALID_REQUEST_ID.match(supplied) else secrets.token_hex(12)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500  # whatever escapes as an exception (problem_middleware renders the rest)
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:  # redirects raised by page handlers
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    except asyncio.CancelledError:
        # Cancelled, not failed: the server is shutting down (or the client went away) mid-request. Logged as
        # 499, nginx's "client closed request", so a log reader does not look for a crash that did not happen.
        status = CLIENT_CLOSED_STATUS
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        request.app[METRICS].observe_request(request.method, route, status, elapsed)
        principal = request.get(PRINCIPAL)  # set only when the route needed one
        log.info(
            "request",
            method=request.method,
            path=request.path,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            remote=request.remote,
            actor=principal.actor if principal else None,
        )


# Response headers -------------------------------------------------------------------------------------------

SERVER_NAME = "citypay"  # the product, never versions (aiohttp would say "Python/3.x aiohttp/3.x")
HSTS = "max-age=31536000; includeSubDomains"
NO_STORE = "no-store"

# aiohttp fills the Server header on every response it writes, including those it makes itself for requests
# it cannot parse (they never reach the app, its middlewares or its signals). Its default names versions.
if hasattr(aiohttp.web_response, "SERVER_SOFTWARE"):
    aiohttp.web_response.SERVER_SOFTWARE = SERVER_NAME
# …and in text/plain: in problem+json instead (core/errors.py).
answer_unparsable_with_problems()


def served_over_tls(request: web.Request) -> bool:
    """TLS here, or at a proxy we trust (CITYPAY_TRUSTED_PROXIES) that says so in X-Forwarded-Proto."""
    if request.secure:
        return True
    if (request.remote or "") not in request.app[SETTINGS].trusted_proxies:
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https"


def _cache_control(request: web.Request, response: web.StreamResponse) -> None:
    """`no-store` for staff content, personal data, pages and errors. A public, non-HTML answer that chose its
    own caching keeps it (the QR image and the receipt-signing key are the same for everyone)."""
    if isinstance(response, web.FileResponse):
        return  # static assets: aiohttp's ETag / Last-Modified
    current = response.headers.get("Cache-Control")
    if current and NO_STORE in current:
        return
    endpoint = request.get(ENDPOINT)
    staff_only = endpoint is not None and not endpoint.access.public
    if (
        current is None
        or staff_only
        or request.get(PRINCIPAL) is not None  # rendered for someone signed in
        or response.status >= 400
        or (response.content_type or "").startswith("text/html")  # pages: pay pages name who is paid
    ):
        response.headers["Cache-Control"] = NO_STORE


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every response of the app, errors and redirects included."""
    response.headers["Server"] = SERVER_NAME
    if served_over_tls(request):
        response.headers["Strict-Transport-Security"] = HSTS
    _cache_control(request, response)
