"""Verified API tokens are cached per process for a few seconds; a revocation reaches every process at once
(NOTIFY), so the cache never lets a revoked token in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import core.tokens
from core.auth import Principal
from core.tokens import TOKEN_CACHE, TokenCache, cache_key
from tests.listeners import run_in_another_process

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/ledger/trial-balance"

REVOKE = """
import asyncio, os, sys
from pathlib import Path
from core.audit import use_audit_key
from core.db import connect
from core.keys import load_keys
from core.tokens import revoke_api_token

async def main():
    use_audit_key(load_keys(embedded=False, var_dir=Path(sys.argv[2])).audit_key)
    conn = await connect(sys.argv[1])
    try:
        assert await revoke_api_token(conn, token_id=int(sys.argv[3]), actor="staff:other-process")
    finally:
        await conn.close()

asyncio.run(main())
"""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_id_of(conn, token: str) -> int:
    return await conn.fetchval("SELECT id FROM api_tokens WHERE token_prefix = $1", token[4:12])


async def status_within(client, token: str, status: int, timeout_s: float) -> float:
    """Seconds until a request with `token` answers `status` (fails after `timeout_s`)."""
    started = time.monotonic()
    while True:
        resp = await client.get(URL, headers=auth(token))
        if resp.status == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"still {resp.status} after {timeout_s} s"
        await asyncio.sleep(0.02)


async def test_a_verified_token_is_served_from_the_cache_until_it_ages_out(
    make_app, aiohttp_client, api_token, conn, monkeypatch
):
    monkeypatch.setattr(core.tokens, "TOKEN_CACHE_S", 1.0)
    client = await aiohttp_client(make_app(background=False))
    cache = client.app[TOKEN_CACHE]
    await asyncio.wait_for(cache.ready.wait(), 10)
    token = await api_token("ledger:read")
    assert (await client.get(URL, headers=auth(token))).status == 200
    assert len(cache) == 1
    # Revoked behind the service's back (no notification): the cache answers for at most its lifetime.
    await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1", await token_id_of(conn, token)
    )
    assert (await client.get(URL, headers=auth(token))).status == 200  # no database read: the cache
    assert await status_within(client, token, 401, timeout_s=5) <= 1.5


async def test_a_revocation_in_another_process_refuses_the_next_request_everywhere(
    make_app, aiohttp_client, api_token, conn, keys, service_db_url, tmp_path, monkeypatch
):
    monkeypatch.setattr(core.tokens, "TOKEN_CACHE_S", 600.0)  # only the notification can end these entries
    first = await aiohttp_client(make_app(background=False))
    second = await aiohttp_client(make_app(background=False))
    for client in (first, second):
        await asyncio.wait_for(client.app[TOKEN_CACHE].ready.wait(), 10)
    token = await api_token("ledger:read")
    other = await api_token("ledger:read")
    for client in (first, second):
        assert (await client.get(URL, headers=auth(token))).status == 200
        assert (await client.get(URL, headers=auth(other))).status == 200
        assert len(client.app[TOKEN_CACHE]) == 2

    token_id = str(await token_id_of(conn, token))
    run_in_another_process(REVOKE, service_db_url, str(tmp_path), token_id, keys=keys)
    for client in (first, second):
        assert await status_within(client, token, 401, timeout_s=5) < 1.0
        assert (await client.get(URL, headers=auth(other))).status == 200  # only that token was dropped
        assert len(client.app[TOKEN_CACHE]) == 1


async def test_the_revoking_process_refuses_at_once(client, api_token, staff_login):
    token = await api_token("ledger:read")
    assert (await client.get(URL, headers=auth(token))).status == 200
    admin = await staff_login("admin")
    listing = await (await client.get("/api/v1/admin/tokens", headers=admin.headers())).json()
    token_id = next(t["id"] for t in listing["items"] if t["prefix"] == token[4:12])
    revoked = await client.delete(f"/api/v1/admin/tokens/{token_id}", headers=admin.headers(unsafe=True))
    assert revoked.status == 200
    assert (await client.get(URL, headers=auth(token))).status == 401


def principal(token_id: int) -> Principal:
    return Principal("token", token_id, "t", scopes=frozenset({"ledger:read"}))


def test_the_cache_is_not_trusted_while_revocations_cannot_reach_it():
    cache = TokenCache(ttl_s=60)
    cache.listening = True
    cache.put(cache_key("a"), principal(1), cache.generation)
    assert cache.get(cache_key("a")) == principal(1)
    cache.listening = False  # the listening connection dropped
    assert cache.get(cache_key("a")) is None
    cache.put(cache_key("b"), principal(2), cache.generation)
    assert len(cache) == 1


def test_a_verification_that_overlaps_a_revocation_is_not_cached():
    cache = TokenCache(ttl_s=60)
    cache.listening = True
    generation = cache.generation  # a request starts reading token 7 from the database …
    cache.forget(7)  # … the revocation is heard meanwhile …
    cache.put(cache_key("x"), principal(7), generation)  # … and what the request read is not kept
    assert cache.get(cache_key("x")) is None


@pytest.mark.parametrize("count", [3])
def test_the_cache_is_bounded(count):
    cache = TokenCache(ttl_s=60, max_entries=count)
    cache.listening = True
    for n in range(count + 2):
        cache.put(cache_key(str(n)), principal(n), cache.generation)
    assert len(cache) == count and cache.get(cache_key("0")) is None
