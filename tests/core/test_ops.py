"""Operations: health, readiness, metrics, the OpenAPI document, request ids and the canonical log line."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import make_mocked_request

from core.api import openapi_path
from core.appkeys import REGISTRY
from core.logging import configure_logging
from core.middleware import request_context_middleware


async def test_healthz_and_readyz(client):
    assert (await (await client.get("/healthz")).json()) == {"status": "ok", "worker": os.getpid()}
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["status"] == "ready"


async def test_readyz_reports_pending_migrations(client, conn):
    # Pretend a migration was never applied (the row is bookkeeping, not ledger data). As the owner: the
    # service's role may only read schema_migrations.
    await conn.execute("DELETE FROM schema_migrations WHERE version = 1")
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "not_ready" and body["pending_migrations"] == ["0001_init"]


async def test_readyz_when_the_database_is_gone(make_app, server_dsn, db_url, aiohttp_client):
    client = await aiohttp_client(make_app())
    name = urlsplit(db_url).path.lstrip("/")
    admin = await asyncpg.connect(server_dsn)
    try:
        # Refuse new connections first: background tasks (the payment-status listener) reconnect at once.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        resp = await client.get("/readyz")
        assert resp.status == 503 and (await resp.json())["database"].startswith("unreachable")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_metrics_count_requests_per_route(client):
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/api/v1/ledger/trial-balance")
    text = await (await client.get("/metrics")).text()
    assert 'citypay_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'route="/api/v1/ledger/trial-balance",status="401"' in text
    assert "citypay_http_request_duration_seconds_bucket" in text
    assert 'citypay_db_pool_connections{state="idle"}' in text


async def test_openapi_matches_the_routes(client):
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    registered = {
        (ep.method, openapi_path(ep.path)) for ep in client.app[REGISTRY].endpoints if ep.in_openapi
    }
    assert documented == registered
    served = {(r.method, r.resource.canonical) for r in client.app.router.routes() if r.method != "HEAD"}
    assert documented <= {(m, openapi_path(p)) for m, p in served}
    tb = doc["paths"]["/api/v1/ledger/trial-balance"]["get"]
    assert [p["name"] for p in tb["parameters"]] == ["as_of", "from", "to"]
    assert "401" in tb["responses"] and "403" in tb["responses"]
    create = doc["paths"]["/api/v1/admin/tokens"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"name", "scopes"}


async def test_request_id_is_honoured_or_generated_and_logged(client, capsys):
    configure_logging("json")  # binds to the captured stderr
    resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    generated = (await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})).headers[
        "X-Request-ID"
    ]
    assert generated != "bad id with spaces" and len(generated) == 24
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    canonical = [line for line in lines if line.get("event") == "request"]
    assert {"request_id": "abc-123", "route": "/healthz", "status": 200}.items() <= canonical[-2].items()
    assert canonical[-1]["request_id"] == generated
    assert "duration_ms" in canonical[-1]


async def test_a_cancelled_request_is_logged_as_cancelled_not_as_a_crash(client, capsys):
    """A handler cancelled mid-request (the server shutting down) logs 499, not a 500 nobody can explain."""
    configure_logging("json")

    async def cancelled(request):
        raise asyncio.CancelledError

    request = make_mocked_request("POST", "/sim/api/payouts", app=client.app)
    with pytest.raises(asyncio.CancelledError):
        await request_context_middleware(request, cancelled)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(line["path"], line["status"]) for line in lines if line.get("event") == "request"] == [
        ("/sim/api/payouts", 499)
    ]


async def test_a_database_error_is_logged_without_the_row_values_it_quotes(capsys, db_url):
    """PostgreSQL's DETAIL ("Failing row contains (…)") would put a payer's name in the log."""
    import asyncpg
    import structlog

    configure_logging("json")
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("CREATE TEMP TABLE people (name text, n int CHECK (n > 0))")
        try:
            await conn.execute("INSERT INTO people VALUES ($1, -1)", "NGUYEN VAN " + "PIIX")
        except asyncpg.CheckViolationError as exc:
            structlog.get_logger("t").error("database_error", sqlstate=exc.sqlstate, exc_info=exc)
    finally:
        await conn.close()
    err = capsys.readouterr().err
    [line] = [json.loads(x) for x in err.splitlines() if x.startswith("{") and "database_error" in x]
    assert "violates check constraint" in line["exception"]  # what failed is still there
    assert "NGUYEN VAN PIIX" not in err and "DETAIL:  (the row's values are not logged)" in line["exception"]
