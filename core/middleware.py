"""Request id, one canonical log line per request, and per-route metrics."""

from __future__ import annotations

import re
import secrets
import time

import structlog
from aiohttp import web

from core.appkeys import METRICS, PRINCIPAL

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
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:  # redirects raised by page handlers
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        metrics = request.app[METRICS]
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
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
