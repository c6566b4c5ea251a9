"""Every route declares who may call it; walk them all: anonymous → 401, wrong role or scope → 403."""

from __future__ import annotations

import re

from core.api import _PARAM_RE as _PARAM
from core.api import ROLES
from core.appkeys import REGISTRY


def concrete_path(pattern: str) -> str:
    def fill(m: re.Match) -> str:
        regex = m.group(2) or ""
        if regex.startswith("[0-9]") or regex.startswith("\\d"):
            return "1"
        return "x1" if regex.startswith("[a-z") else "X1"

    return _PARAM.sub(fill, pattern)


async def _protected(client):
    endpoints = [ep for ep in client.app[REGISTRY].endpoints if not ep.access.public]
    assert len(endpoints) >= 5, "the walk must cover the protected routes"
    return endpoints


async def test_anonymous_callers_get_401_everywhere(client):
    for ep in await _protected(client):
        resp = await client.request(ep.method, concrete_path(ep.path), headers={"Accept": "application/json"})
        assert resp.status == 401, f"{ep.method} {ep.path} answered {resp.status}"
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        assert body["type"] == "/problems/unauthorized"


async def test_wrong_role_gets_403_everywhere(client, staff_login):
    logins = {role: await staff_login(role) for role in ROLES}
    checked = 0
    for ep in await _protected(client):
        for role in set(ROLES) - ep.access.roles:
            login = logins[role]
            resp = await client.request(
                ep.method,
                concrete_path(ep.path),
                headers={**login.headers(unsafe=True), "Accept": "application/json"},
            )
            assert resp.status == 403, f"{role} on {ep.method} {ep.path} answered {resp.status}"
            checked += 1
    assert checked > 0


async def test_token_without_the_scope_gets_403_everywhere(client, api_token):
    token = await api_token("nothing:read")
    for ep in await _protected(client):
        resp = await client.request(
            ep.method, concrete_path(ep.path), headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status == 403, f"{ep.method} {ep.path} answered {resp.status}"


async def test_bad_and_revoked_tokens_are_401(client, api_token, staff_login):
    token = await api_token("ledger:read")
    ok = await client.get("/api/v1/ledger/trial-balance", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200
    for bad in ("cpt_nope", token[:-2] + "xx", "Basic abc", token.replace("cpt_", "cpx_")):
        resp = await client.get("/api/v1/ledger/trial-balance", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status == 401
    admin = await staff_login("admin")
    listing = await (await client.get("/api/v1/admin/tokens", headers=admin.headers())).json()
    token_id = next(t["id"] for t in listing["items"] if t["prefix"] == token[4:12])
    assert all("token" not in t and "secret_hash" not in t for t in listing["items"])
    revoked = await client.delete(f"/api/v1/admin/tokens/{token_id}", headers=admin.headers(unsafe=True))
    assert revoked.status == 200
    after = await client.get("/api/v1/ledger/trial-balance", headers={"Authorization": f"Bearer {token}"})
    assert after.status == 401


async def test_cookie_writes_need_the_csrf_token(client, staff_login):
    admin = await staff_login("admin")
    body = {"name": "agency", "scopes": ["payment-requests:write"], "fee_codes": ["LLTP"]}
    missing = await client.post("/api/v1/admin/tokens", json=body, headers=admin.headers())
    assert missing.status == 403 and (await missing.json())["field"] == "csrf_token"
    wrong = await client.post(
        "/api/v1/admin/tokens", json=body, headers={**admin.headers(), "X-CSRF-Token": "forged"}
    )
    assert wrong.status == 403
    assert await _pool(client).fetchval("SELECT count(*) FROM api_tokens") == 0
    ok = await client.post("/api/v1/admin/tokens", json=body, headers=admin.headers(unsafe=True))
    assert ok.status == 201
    created = await ok.json()
    assert created["token"].startswith("cpt_") and created["scopes"] == ["payment-requests:write"]


def _pool(client):
    from core.appkeys import POOL

    return client.app[POOL]


async def test_admin_creates_staff_and_it_is_audited(client, staff_login):
    admin = await staff_login("admin")
    resp = await client.post(
        "/api/v1/admin/staff",
        headers=admin.headers(unsafe=True),
        json={
            "username": "hoa",
            "display_name": "Phạm Thị Hoa",
            "role": "attendant",
            "password": "correct horse",
        },
    )
    assert resp.status == 201
    dup = await client.post(
        "/api/v1/admin/staff",
        headers=admin.headers(unsafe=True),
        json={"username": "hoa", "display_name": "Other", "role": "finance", "password": "correct horse"},
    )
    assert dup.status == 409 and (await dup.json())["field"] == "username"
    row = await _pool(client).fetchrow(
        "SELECT actor, action, after FROM audit_log WHERE subject = 'staff:hoa'"
    )
    assert row["actor"] == f"staff:{admin.username}" and row["action"] == "staff.create"
    assert "password" not in row["after"]


async def test_login_is_rate_limited_per_account(client, staff_login):
    user = await staff_login("finance")
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    for _ in range(5):
        bad = await client.post(
            "/login",
            data={"username": user.username, "password": "wrong-password", "csrf_token": token},
            allow_redirects=False,
        )
        assert bad.status == 401
    blocked = await client.post(
        "/login",
        data={"username": user.username, "password": user.password, "csrf_token": token},
        allow_redirects=False,
    )
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0


async def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(client, staff_login):
    user = await staff_login("attendant")
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    no_csrf = await client.post(
        "/login", data={"username": user.username, "password": user.password}, allow_redirects=False
    )
    assert no_csrf.status == 403
    resp = await client.post(
        "/login",
        data={"username": user.username, "password": user.password, "csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/staff"
    cookie = resp.cookies["citypay_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    home = await client.get("/staff")
    assert home.status == 200 and user.username in await home.text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await home.text()).group(1)
    out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    # the fixture's own session remains; the one made through the page is gone
    assert (
        await _pool(client).fetchval(
            "SELECT count(*) FROM staff_sessions s JOIN staff_users u "
            "ON u.id = s.user_id WHERE u.username = $1",
            user.username,
        )
        == 1
    )
    again = await client.get("/staff", headers={"Accept": "application/json"})
    assert again.status == 401


def test_client_address_trusts_only_configured_proxies(make_app):
    from unittest.mock import MagicMock

    from core.auth import client_address, cookie_is_secure

    app = make_app(trusted_proxies=("10.0.0.5",), cookie_secure="auto")
    via_proxy = MagicMock(
        app=app,
        remote="10.0.0.5",
        secure=False,
        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"},
    )
    assert client_address(via_proxy) == "203.0.113.9" and cookie_is_secure(via_proxy)
    direct = MagicMock(app=app, remote="192.0.2.1", secure=False, headers={"X-Forwarded-For": "127.0.0.1"})
    assert client_address(direct) == "192.0.2.1"


def test_secure_cookie_outside_loopback(make_app):
    from unittest.mock import MagicMock

    from core.auth import cookie_is_secure

    app = make_app()
    request = MagicMock(app=app, secure=False, remote="203.0.113.9")
    assert cookie_is_secure(request)
    request.remote = "127.0.0.1"
    assert not cookie_is_secure(request)
