"""Payment requests written in groups (payments/creation_groups.py), over real HTTP against a real PostgreSQL:
creations sent together share statements and each is written once with the answer its key stores;
duplicates of a key inside one group, across groups and across two servers make one request; a row that
breaks its group's statement fails nobody (every creation of the group is made alone); a group committed
but never answered replays what it stored."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from core.appkeys import METRICS, POOL
from core.db import connect
from payments import requests as payment_requests
from tests.payments.test_creation_on_cached_terms import LLTP, cached_create, create

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
async def agency(api_token):
    return {"Authorization": f"Bearer {await api_token('payment-requests:write')}"}


def group_sizes(app) -> tuple[float, float]:
    """(statements that wrote a group, creations in them) from citypay_creation_group_size."""
    registry = app[METRICS].registry
    return (
        registry.get_sample_value("citypay_creation_group_size_count") or 0,
        registry.get_sample_value("citypay_creation_group_size_sum") or 0,
    )


def failed_groups(app) -> float:
    return app[METRICS].registry.get_sample_value("citypay_creation_group_failed_total") or 0


async def assert_each_answer_is_its_row(client, agency, answers) -> None:
    """What each creation answered is what its key stored and what the request reads back as."""
    pool = client.app[POOL]
    for resp, pr in answers:
        assert resp.status == 201, pr
        got = await client.get(f"/api/v1/payment-requests/{pr['id']}", headers=agency)
        assert await got.json() == pr
    stored = await pool.fetch("SELECT response_body FROM idempotency_keys")
    assert {s["response_body"]["id"] for s in stored} >= {pr["id"] for _, pr in answers}


async def test_creations_sent_together_share_statements_and_are_each_written_once(client, agency):
    await cached_create(client, agency)
    before = group_sizes(client.app)
    answers = await asyncio.gather(*(create(client, agency) for _ in range(40)))
    await assert_each_answer_is_its_row(client, agency, answers)
    assert len({pr["id"] for _, pr in answers}) == len({pr["reference"] for _, pr in answers}) == 40
    assert not any(
        resp.headers.get("Idempotent-Replayed") for resp, _ in answers
    )  # each written by its group
    statements, written = (a - b for a, b in zip(group_sizes(client.app), before, strict=True))
    assert written == 40 and statements < 40  # at least one statement wrote several requests
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 41
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 41
    assert failed_groups(client.app) == 0


async def test_duplicates_inside_and_across_groups_make_one_request_per_key(client, agency):
    await cached_create(client, agency)
    keys = [f"order-{n}" for n in range(10)] * 4  # each key four times, all sent at once
    answers = await asyncio.gather(*(create(client, agency, key=k) for k in keys))
    assert {resp.status for resp, _ in answers} == {201}
    ids_by_key: dict[str, set[str]] = {}
    for key, (_, pr) in zip(keys, answers, strict=True):
        ids_by_key.setdefault(key, set()).add(pr["id"])
    assert all(len(ids) == 1 for ids in ids_by_key.values())
    replayed = Counter(
        key for key, (resp, _) in zip(keys, answers, strict=True) if resp.headers.get("Idempotent-Replayed")
    )
    assert replayed == dict.fromkeys(ids_by_key, 3)
    assert await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests") == 11


async def test_two_servers_receiving_the_same_key_at_once_make_one_request(
    make_app,
    aiohttp_client,
    agency,
    db_url,
):
    """Two apps, two pools, two sets of creation groups on one database: what two server processes are."""
    clients = [await aiohttp_client(make_app()) for _ in range(2)]
    for c in clients:
        await cached_create(c, agency)
    answers = await asyncio.gather(*(create(clients[n % 2], agency, key="across") for n in range(20)))
    assert {resp.status for resp, _ in answers} == {201}
    assert len({pr["id"] for _, pr in answers}) == 1
    assert sum(resp.headers.get("Idempotent-Replayed") == "true" for resp, _ in answers) == 19
    conn = await connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM payment_requests") == 3
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'across'") == 1
    finally:
        await conn.close()


async def test_a_row_that_breaks_its_groups_statement_fails_nobody(client, agency, monkeypatch):
    """A reference drawn twice (one in 2^50) breaks the unique index: the whole statement fails, and every
    creation of the group is made alone on the full path, which draws a new reference."""
    await cached_create(client, agency)
    taken = await client.app[POOL].fetchval("SELECT reference FROM payment_requests")
    drawn = {"n": 0}
    real = payment_requests.new_reference

    def collide() -> str:
        drawn["n"] += 1
        return taken if drawn["n"] == 3 else real()

    monkeypatch.setattr(payment_requests, "new_reference", collide)
    answers = await asyncio.gather(*(create(client, agency) for _ in range(12)))
    await assert_each_answer_is_its_row(client, agency, answers)
    references = {pr["reference"] for _, pr in answers}
    assert len(references) == 12 and taken not in references
    assert failed_groups(client.app) == 1
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 13
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 13


async def test_a_group_committed_but_unanswered_replays_each_stored_answer(client, agency, monkeypatch):
    """Killed halfway: the group's statement commits, then its connection breaks before the answer arrives.
    Every creation of the group goes the full path, finds its key taken and answers what the group stored:
    nothing is created twice."""
    from payments.creation_groups import CreationGroups

    await cached_create(client, agency)
    real = CreationGroups._insert

    async def committed_then_lost(conn, rows):
        await real(conn, rows)
        raise ConnectionResetError("the connection broke after COMMIT")

    monkeypatch.setattr(CreationGroups, "_insert", staticmethod(committed_then_lost))
    answers = await asyncio.gather(*(create(client, agency, key=f"lost-{n}") for n in range(10)))
    await assert_each_answer_is_its_row(client, agency, answers)
    assert all(resp.headers.get("Idempotent-Replayed") == "true" for resp, _ in answers)
    assert failed_groups(client.app) >= 1
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 11
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 11


async def test_hostile_bodies_sent_among_a_burst_are_refused_and_fail_no_group(client, agency):
    """A lone surrogate, a NUL, invisible characters, an over-long reference and 10^13 đồng of expiry sent in
    the same burst as 20 good creations: each hostile one is refused with a problem before it reaches a group,
    so no group's statement fails and exactly the good ones are written."""
    import json

    await cached_create(client, agency)
    hostile = [
        '{"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "HS-\\ud800"}',
        '{"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "HS\\u0000-1"}',
        json.dumps({**LLTP, "payer_reference": "HS-2026\u200b-0001\u2066"}),
        json.dumps({**LLTP, "payer_reference": "H" * 101}),
        json.dumps({**LLTP, "expires_in_minutes": 10**13}),
        json.dumps({**LLTP, "fee_code": "LLTP\u200b"}),
    ]

    async def send(raw: str):
        resp = await client.post(
            "/api/v1/payment-requests",
            data=raw.encode(),
            headers={**agency, "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        )
        return resp, await resp.json()

    answers = await asyncio.gather(*(create(client, agency) for _ in range(20)), *(send(r) for r in hostile))
    good, bad = answers[:20], answers[20:]
    assert {resp.status for resp, _ in good} == {201}
    for raw, (resp, problem) in zip(hostile, bad, strict=True):
        assert resp.status in (400, 422) and resp.content_type == "application/problem+json", (raw, problem)
    assert failed_groups(client.app) == 0
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 21
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 21


async def test_text_that_json_escapes_is_stored_as_sent(client, agency):
    """The group travels as one JSON document: quotes, backslashes and Vietnamese come back as sent,
    and the timestamps keep their microseconds."""
    await cached_create(client, agency)
    before = group_sizes(client.app)[1]
    reference = 'Hồ sơ "A\\B" / {x} ế'
    resp = await client.post(
        "/api/v1/payment-requests",
        json={**LLTP, "payer_reference": reference},
        headers={**agency, "Idempotency-Key": str(uuid.uuid4())},
    )
    pr = await resp.json()
    assert resp.status == 201, pr
    assert group_sizes(client.app)[1] == before + 1  # written by a group, not the full path
    row = await client.app[POOL].fetchrow(
        "SELECT payer_reference, created_at, expires_at FROM payment_requests WHERE id = $1",
        uuid.UUID(pr["id"]),
    )
    assert row["payer_reference"] == reference == pr["payer_reference"]
    got = await (await client.get(f"/api/v1/payment-requests/{pr['id']}", headers=agency)).json()
    assert got == pr
    assert failed_groups(client.app) == 0
