"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field

from core.api import PUBLIC, Routes, build_openapi, staff
from core.appkeys import METRICS, POOL, REGISTRY, SETTINGS
from core.db import MigrationError, pending_migrations
from core.responses import ResponseModel, json_response

routes = Routes(tags=("operations",))
VERSION = "0.1.0"


class Health(ResponseModel):
    status: Literal["ok"]
    worker: int = Field(description="the answering server process's id (`serve --workers N` runs several)")


class Readiness(ResponseModel):
    status: Literal["ready", "not_ready"]
    database: str = Field(description='"ok", or why the database is not usable')
    pending_migrations: list[str]


@routes.get("/healthz", access=PUBLIC, summary="Liveness: the process answers", response=Health)
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health(status="ok", worker=os.getpid()))


@routes.get(
    "/readyz",
    access=PUBLIC,
    summary="Readiness: database reachable and migrations current",
    response=Readiness,
    responses={503: "Not ready"},
    response_models={503: Readiness},
)
async def readyz(request: web.Request) -> web.Response:
    database, pending = "ok", list[str]()
    try:
        async with asyncio.timeout(2):
            async with request.app[POOL].acquire() as conn:
                pending = await pending_migrations(conn)
    except MigrationError as exc:
        database = f"migrations: {exc}"
    except (OSError, TimeoutError, Exception) as exc:  # any database failure means "not ready", never 500
        database = f"unreachable: {type(exc).__name__}"
    ready = database == "ok" and not pending
    body = Readiness(status="ready" if ready else "not_ready", database=database, pending_migrations=pending)
    return json_response(body, status=200 if ready else 503)


# /metrics: from the addresses in CITYPAY_METRICS_ALLOW (default: this host only) without credentials; from
# anywhere else with an admin session or an API token with this scope. Declared public because the address
# check comes first; it then asks for credentials like any other endpoint.
METRICS_ACCESS = staff("admin", scopes=("metrics:read",))


def metrics_address_allowed(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    if "*" in settings.metrics_allow:
        return True
    remote = request.remote or ""
    if remote in settings.trusted_proxies:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        address = hops[-1] if hops else remote
    elif "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        # Relayed by a proxy we were not told to trust (one on this host?): its address is not the caller's.
        return False
    else:
        address = remote
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.metrics_allow)


@routes.get(
    "/metrics",
    access=PUBLIC,
    summary="Prometheus metrics: from CITYPAY_METRICS_ALLOW addresses, else an admin or a metrics:read token",
    produces="text/plain",
    responses={401: "Not from an allowed address and no credentials", 403: "Not allowed for this caller"},
)
async def metrics(request: web.Request) -> web.Response:
    if not metrics_address_allowed(request):
        from core.auth import authorize  # auth imports the API declarations; keep this edge lazy

        await authorize(request, METRICS_ACCESS)
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/openapi.json", access=PUBLIC, summary="This API's OpenAPI 3.1 document")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[REGISTRY], title="citypay", version=VERSION))
