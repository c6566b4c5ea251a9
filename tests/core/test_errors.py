"""Bad input gets a clear problem+json 4xx and changes nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import BaseModel

from core.api import parse_query
from core.appkeys import POOL
from core.errors import ValidationFailed

URL = "/api/v1/admin/tokens"


@pytest.fixture
async def admin(staff_login):
    return await staff_login("admin")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "slug", "field"),
    [
        (b'{"name": "x", "scopes": ["a:read"]', "application/json", 400, "malformed-json", None),
        (b"", "application/json", 400, "malformed-json", None),
        ('{"name": "x", "scopes": []}'.encode("utf-16"), "application/json", 400, "malformed-json", None),
        (b'{"name": "\xff", "scopes": ["a:read"]}', "application/json", 400, "malformed-json", None),
        (b'{"name": "x", "scopes": ["a:read"], "n": NaN}', "application/json", 400, "malformed-json", None),
        (
            b'{"name": "x", "scopes": ["a:read"], "name": "y"}',
            "application/json",
            400,
            "malformed-json",
            None,
        ),
        (b'{"name": 5, "scopes": ["a:read"]}', "application/json", 422, "validation-failed", "name"),
        (b'{"name": "x", "scopes": "a:read"}', "application/json", 422, "validation-failed", "scopes"),
        (b'{"scopes": ["a:read"]}', "application/json", 422, "validation-failed", "name"),
        (
            b'{"name": "x", "scopes": ["a:read"], "admin": true}',
            "application/json",
            422,
            "validation-failed",
            "admin",
        ),
        (b'{"name": "x", "scopes": ["not a scope"]}', "application/json", 422, "validation-failed", "scopes"),
        (b'["name", "x"]', "application/json", 422, "validation-failed", "body"),
        (b"name=x&scopes=a:read", "application/x-www-form-urlencoded", 415, "unsupported-media-type", None),
        (b'{"name": "x", "scopes": ["a:read"]}', "text/plain", 415, "unsupported-media-type", None),
        (
            b'{"name": "' + b"x" * 70_000 + b'", "scopes": ["a:read"]}',
            "application/json",
            413,
            "payload-too-large",
            None,
        ),
        (b"\xff\xfe{}", "application/json", 400, "malformed-json", None),
        # PostgreSQL text cannot hold NUL; the OpenAPI fuzzer found it as a 500.
        (
            b'{"name": "a\\u0000b", "scopes": ["a:read"]}',
            "application/json",
            422,
            "validation-failed",
            "name",
        ),
        (
            b'{"name": "x", "scopes": ["a:read", "b\\u0000:read"]}',
            "application/json",
            422,
            "validation-failed",
            "scopes.1",
        ),
    ],
)
async def test_bad_bodies_are_problems_and_change_nothing(
    client, admin, body, content_type, status, slug, field
):
    resp = await client.post(
        URL, data=body, headers={**admin.headers(unsafe=True), "Content-Type": content_type}
    )
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == status and problem["title"]
    if field:
        assert problem["field"] == field
    assert await client.app[POOL].fetchval("SELECT count(*) FROM api_tokens") == 0
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM audit_log WHERE action = 'token.create'") == 0
    )


async def test_titles_in_english_on_request(client):
    resp = await client.get("/api/v1/ledger/trial-balance", headers={"Accept-Language": "en"})
    assert (await resp.json())["title"] == "Authentication required"
    resp = await client.get("/api/v1/ledger/trial-balance")
    assert (await resp.json())["title"] == "Cần đăng nhập hoặc mã truy cập"


async def test_bad_query_is_422(client, staff_login):
    finance = await staff_login("finance")
    resp = await client.get("/api/v1/ledger/trial-balance?as_of=yesterday", headers=finance.headers())
    assert resp.status == 422 and (await resp.json())["field"] == "as_of"
    resp = await client.get("/api/v1/ledger/trial-balance?as_of=2026-02-30", headers=finance.headers())
    assert resp.status == 422
    resp = await client.get(
        "/api/v1/ledger/trial-balance?as_of=2026-01-01&as_of=2026-01-02", headers=finance.headers()
    )
    assert resp.status == 422
    resp = await client.get("/api/v1/ledger/trial-balance?surprise=1", headers=finance.headers())
    assert resp.status == 422 and (await resp.json())["field"] == "surprise"


async def test_unknown_route_and_method(client):
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    resp = await client.put("/healthz")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
    assert (await resp.json())["type"] == "/problems/method-not-allowed"


async def test_html_clients_get_an_error_page(client):
    resp = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert resp.status == 404 and resp.content_type == "text/html"
    assert "Không tìm thấy" in await resp.text()


async def test_nul_characters_are_refused_with_a_4xx(client):
    class Query(BaseModel):
        code: str

    with pytest.raises(ValidationFailed) as refused:
        parse_query(make_mocked_request("GET", "/x?code=a%00b"), Query)
    assert refused.value.field == "code"
    # Where no model checks the text first (the login form), the database's refusal is still a 422, not a 500.
    page = await client.get("/login")
    csrf = page.cookies["citypay_login_csrf"].value
    resp = await client.post("/login", data={"username": "a\x00b", "password": "x", "csrf_token": csrf})
    assert resp.status == 422 and (await resp.json())["type"] == "/problems/validation-failed"
