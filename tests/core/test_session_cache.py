"""Staff sessions verified in the last few seconds are served from a per-process cache
(core/session_cache.py); whatever ends a session or changes its user (a logout, a revocation, a deactivation,
an edit by hand in SQL) reaches every process at its COMMIT through migration 0027's NOTIFY triggers, so the
cache never lets an ended session in."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import core.session_cache
from core.appkeys import POOL
from core.auth import Principal
from core.session_cache import STAFF_SESSION_CACHE, StaffSessionCache
from core.tokens import secret_digest
from tests.listeners import cut_listener

URL = "/api/v1/admin/tokens"


async def listening_app(make_app, aiohttp_client, **settings):
    client = await aiohttp_client(make_app(background=False, **settings))
    cache = client.app[STAFF_SESSION_CACHE]
    await asyncio.wait_for(cache.ready.wait(), 10)
    return client, cache


async def status_within(client, login, status: int, timeout_s: float) -> float:
    started = time.monotonic()
    while True:
        resp = await client.get(URL, headers=login.headers())
        if resp.status == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"still {resp.status} after {timeout_s} s"
        await asyncio.sleep(0.02)


async def test_a_session_costs_one_read_for_many_requests(make_app, aiohttp_client, staff_login):
    client, cache = await listening_app(make_app, aiohttp_client, db_pool_min=1, db_pool_max=1)
    admin = await staff_login("admin")
    seen: list[str] = []
    async with client.app[POOL].acquire() as conn:  # the pool's one connection: the requests will use it
        conn.add_query_logger(lambda record: seen.append(record.query))
    for _ in range(5):
        assert (await client.get(URL, headers=admin.headers())).status == 200
    assert sum("FROM staff_sessions" in q for q in seen) == 1, seen
    assert len(cache) == 1


async def test_a_logout_ends_the_session_at_once(make_app, aiohttp_client, staff_login):
    client, cache = await listening_app(make_app, aiohttp_client)
    admin = await staff_login("admin")
    assert (await client.get(URL, headers=admin.headers())).status == 200
    assert len(cache) == 1
    out = await client.post(
        "/logout", data={"csrf_token": admin.csrf}, headers=admin.headers(), allow_redirects=False
    )
    assert out.status == 303
    assert (await client.get(URL, headers=admin.headers())).status == 401


async def test_a_session_deleted_by_hand_is_refused_at_the_next_request(
    make_app, aiohttp_client, staff_login, conn, monkeypatch
):
    monkeypatch.setattr(core.session_cache, "STAFF_SESSION_CACHE_S", 600.0)  # only the trigger ends it
    client, cache = await listening_app(make_app, aiohttp_client)
    admin, other = await staff_login("admin"), await staff_login("admin")
    for login in (admin, other):
        assert (await client.get(URL, headers=login.headers())).status == 200
    heard = cache.notifications
    await conn.execute("DELETE FROM staff_sessions WHERE id_hash = $1", secret_digest(admin.cookie))
    assert await status_within(client, admin, 401, timeout_s=5) < 1.0
    assert cache.notifications > heard
    assert (await client.get(URL, headers=other.headers())).status == 200  # read again, still valid


async def test_a_role_changed_by_hand_takes_effect_at_the_next_request(
    make_app, aiohttp_client, staff_login, conn, monkeypatch
):
    monkeypatch.setattr(core.session_cache, "STAFF_SESSION_CACHE_S", 600.0)
    client, _ = await listening_app(make_app, aiohttp_client)
    admin = await staff_login("admin")
    assert (await client.get(URL, headers=admin.headers())).status == 200
    await conn.execute("UPDATE staff_users SET role = 'finance' WHERE username = $1", admin.username)
    assert await status_within(client, admin, 403, timeout_s=5) < 1.0


async def test_a_process_that_cannot_hear_changes_reads_every_time(
    make_app, aiohttp_client, staff_login, conn
):
    client, cache = await listening_app(make_app, aiohttp_client)
    admin = await staff_login("admin")
    assert (await client.get(URL, headers=admin.headers())).status == 200
    await cut_listener(conn, cache)
    assert not cache.listening and len(cache) == 0
    await conn.execute("DELETE FROM staff_sessions WHERE id_hash = $1", secret_digest(admin.cookie))
    assert (await client.get(URL, headers=admin.headers())).status == 401


def test_an_entry_is_never_used_past_its_sessions_expiry():
    cache = StaffSessionCache(ttl_s=600)
    cache.listening = True
    now = datetime.now(UTC)
    principal = Principal("staff", 1, "a", "admin", csrf_token="x")
    cache.put(b"k", principal, now + timedelta(seconds=1), cache.generation)
    assert cache.get(b"k", now) == principal
    assert cache.get(b"k", now + timedelta(seconds=1)) is None
    # A read begun before a change heard meanwhile is not kept.
    generation = cache.generation
    cache.clear()
    cache.put(b"k", principal, now + timedelta(hours=1), generation)
    assert cache.get(b"k", now) is None


async def test_unknown_cookies_are_refused_and_nothing_is_kept(make_app, aiohttp_client, staff_login):
    client, cache = await listening_app(make_app, aiohttp_client)
    admin = await staff_login("admin")
    forged = ["", "x" * 4000, admin.cookie[:-1], admin.cookie + "=", "%E2%80%8B" + admin.cookie]
    for cookie in forged * 2:  # twice: a refusal is not remembered as anything
        resp = await client.get(URL, headers={"Cookie": f"citypay_session={cookie}"})
        assert resp.status == 401, cookie
    assert len(cache) == 0
    assert (await client.get(URL, headers=admin.headers())).status == 200
    assert len(cache) == 1
