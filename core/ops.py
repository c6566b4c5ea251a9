"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from core.api import PUBLIC, Routes, build_openapi
from core.appkeys import METRICS, POOL, REGISTRY
from core.db import MigrationError, pending_migrations

routes = Routes(tags=("operations",))
VERSION = "0.1.0"


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    pending_migrations: list[str]


@routes.get("/healthz", access=PUBLIC, summary="Liveness: the process answers", response=Health)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get(
    "/readyz",
    access=PUBLIC,
    summary="Readiness: database reachable and migrations current",
    response=Readiness,
    responses={503: "Not ready"},
)
async def readyz(request: web.Request) -> web.Response:
    body = {"status": "ready", "database": "ok", "pending_migrations": []}
    try:
        async with asyncio.timeout(2):
            async with request.app[POOL].acquire() as conn:
                body["pending_migrations"] = await pending_migrations(conn)
    except MigrationError as exc:
        body.update(status="not_ready", database=f"migrations: {exc}")
    except (OSError, TimeoutError, Exception) as exc:  # any database failure means "not ready", never 500
        body.update(status="not_ready", database=f"unreachable: {type(exc).__name__}")
    if body["pending_migrations"]:
        body["status"] = "not_ready"
    return web.json_response(body, status=200 if body["status"] == "ready" else 503)


@routes.get("/metrics", access=PUBLIC, summary="Prometheus metrics", produces="text/plain")
async def metrics(request: web.Request) -> web.Response:
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/openapi.json", access=PUBLIC, summary="This API's OpenAPI 3.1 document")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[REGISTRY], title="citypay", version=VERSION))
