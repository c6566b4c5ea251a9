"""Group commits of bank callbacks, over real HTTP with real signatures against a real PostgreSQL: many
credits settle in few transactions and each exactly once; duplicates inside one group, across groups and
across two servers book once; a credit that fails inside its group fails alone; a group whose COMMIT fails
answers nobody "accepted" for what did not commit. After each test the books balance and every accepted bank
transaction is in payments_received exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.appkeys import KEYS, METRICS, POOL
from core.db import connect
from payments.callbacks import reprocess_inbox
from payments.receipts import verify_receipt_signature
from tests.payments.test_callbacks import URL, new_request, signed, v1_body

pytestmark = pytest.mark.usefixtures("catalogue")
WIDE = 400  # ms: wide enough that callbacks sent together land in one group on a busy test machine


async def post_all(client, bodies, bank_key) -> list[tuple[int, dict]]:
    async def one(body: bytes) -> tuple[int, dict]:
        resp = await client.post(URL, data=body, headers=signed(bank_key, body))
        return resp.status, json.loads(await resp.read())

    return list(await asyncio.gather(*(one(b) for b in bodies)))


def groups(app) -> tuple[float, float]:
    """(groups committed, credits in them) from citypay_callback_group_size."""
    registry = app[METRICS].registry
    count = registry.get_sample_value("citypay_callback_group_size_count") or 0
    total = registry.get_sample_value("citypay_callback_group_size_sum") or 0
    return count, total


def together(app) -> tuple[float, float, float]:
    """(sets booked together, credits in them, sets that failed and settled one by one)."""
    registry = app[METRICS].registry
    return (
        registry.get_sample_value("citypay_callback_group_together_count") or 0,
        registry.get_sample_value("citypay_callback_group_together_sum") or 0,
        registry.get_sample_value("citypay_callback_group_set_failed_total") or 0,
    )


def alone(app, reason: str) -> float:
    return (
        app[METRICS].registry.get_sample_value("citypay_callback_group_alone_total", {"reason": reason}) or 0
    )


async def assert_books(db_url: str, accepted: set[str]) -> None:
    """The ledger balances, entry by entry; no bank transaction is booked twice; each accepted one is."""
    conn = await connect(db_url)
    try:
        assert await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM postings") == 0
        unbalanced = await conn.fetch(
            "SELECT entry_id FROM postings GROUP BY entry_id HAVING sum(amount) <> 0 OR count(*) < 2"
        )
        assert unbalanced == []
        booked = await conn.fetch(
            "SELECT bank_txn_id, count(*) AS n FROM payments_received GROUP BY bank_code, bank_txn_id"
        )
        assert all(r["n"] == 1 for r in booked)
        assert accepted <= {r["bank_txn_id"] for r in booked}
        entries = await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind LIKE 'credit.%'")
        assert entries == len(booked)
    finally:
        await conn.close()


def accepted_ids(answers) -> set[str]:
    return {a["bank_txn_id"] for status, a in answers if status == 200 and a["status"] == "accepted"}


async def test_twenty_callbacks_at_once_settle_once_in_a_few_groups(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    requests = [await new_request(db_url, keys) for _ in range(20)]
    bodies = [v1_body(pr["reference"], txn=f"FT-GROUP-{i:02d}") for i, pr in enumerate(requests)]
    answers = await post_all(client, bodies, bank_key)
    assert [(status, a["status"]) for status, a in answers] == [(200, "accepted")] * 20
    count, total = groups(client.app)
    assert total == 20 and count < 20  # groups of more than one credit …
    assert count <= 3  # … a few of them
    committed = client.app[METRICS].registry.get_sample_value("citypay_callback_group_duration_seconds_count")
    assert committed == count
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE status = 'paid'") == 20
    assert await pool.fetchval("SELECT count(*) FROM payments_received WHERE outcome = 'settled'") == 20
    inbox = await pool.fetch("SELECT status, outcome, attempts, payment_id FROM callback_inbox")
    assert len(inbox) == 20
    assert {(r["status"], r["outcome"], r["attempts"]) for r in inbox} == {("processed", "settled", 1)}
    # one receipt per request, numbered without a gap or a repeat although they were issued in one transaction
    receipts = await pool.fetch("SELECT * FROM receipts ORDER BY number")
    numbers = [r["number"] for r in receipts]
    assert len(numbers) == 20 and numbers == list(range(numbers[0], numbers[0] + 20))
    for receipt in receipts:  # signed, and the signed body says the number on record
        assert verify_receipt_signature(keys.signing_public_key, receipt["body"], receipt["signature"])
        body = json.loads(receipt["body"])
        assert (body["series"], body["number"]) == (receipt["series"], receipt["number"])
        assert body["payer_name"] == "NGUYEN V** A**" and body["amount_paid"] == 200_000
    await assert_books(db_url, accepted_ids(answers))


async def test_the_same_transaction_twice_in_one_group_books_once(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    pr = await new_request(db_url, keys)
    other = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-TWICE")
    # the same credit in other bytes (keys reordered): another inbox row, the same bank transaction
    reordered = json.dumps(dict(reversed(json.loads(body).items()))).encode()
    bodies = [body, body, reordered, reordered, v1_body(other["reference"], txn="FT-OTHER")]
    answers = await post_all(client, bodies, bank_key)
    assert groups(client.app) == (1, 5)
    statuses = sorted(a["status"] for status, a in answers[:4])
    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert {a["bank_txn_id"] for _, a in answers[:4]} == {"FT-TWICE"}
    assert answers[4][1]["status"] == "accepted"
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payments_received WHERE bank_txn_id = 'FT-TWICE'") == 1
    assert await pool.fetchval("SELECT count(*) FROM receipts WHERE payment_request_id = $1", pr["id"]) == 1
    rows = await pool.fetch(
        "SELECT status, outcome, deliveries FROM callback_inbox WHERE bank_txn_id = 'FT-TWICE'"
    )
    # two rows (two byte strings), each counted twice; one booked the credit, the other saw it booked
    assert sorted((r["status"], r["outcome"], r["deliveries"]) for r in rows) == [
        ("processed", "duplicate:settled", 2),
        ("processed", "settled", 2),
    ]
    assert await pool.fetchval("SELECT count(*) FROM callback_conflicts") == 0
    await assert_books(db_url, accepted_ids(answers))


async def test_the_same_transaction_across_groups_books_once(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    client = await aiohttp_client(make_app(callback_group_window_ms=20))
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-ACROSS")
    first = await post_all(client, [body], bank_key)
    assert first[0][1]["status"] == "accepted"
    # later groups: a byte-identical retry, the same credit re-serialised, and one that says another amount
    changed = v1_body(pr["reference"], amount=900_000, txn="FT-ACROSS")
    reordered = json.dumps(dict(reversed(json.loads(body).items()))).encode()
    for wave in ([body], [reordered, changed], [body, changed, reordered]):
        answers = await post_all(client, wave, bank_key)
        assert [(status, a["status"], a["bank_txn_id"]) for status, a in answers] == [
            (200, "duplicate", "FT-ACROSS")
        ] * len(wave)
    assert groups(client.app)[0] >= 4
    pool = client.app[POOL]
    payment = await pool.fetchrow("SELECT amount, outcome FROM payments_received")
    assert (payment["amount"], payment["outcome"]) == (200_000, "settled")  # the first booking stands
    conflict = await pool.fetchrow("SELECT differences FROM callback_conflicts")
    assert conflict["differences"]["amount"] == {"first": 200_000, "now": 900_000}
    assert await pool.fetchval("SELECT count(*) FROM callback_conflicts") == 1
    assert await pool.fetchval("SELECT count(*) FROM receipts") == 1
    await assert_books(db_url, {"FT-ACROSS"})


async def test_two_servers_receiving_the_same_transaction_at_once_book_it_once(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    """Two apps, two pools, two group committers on one database: what two server processes are to it."""
    clients = [await aiohttp_client(make_app(callback_group_window_ms=WIDE)) for _ in range(2)]
    assert clients[0].app[POOL] is not clients[1].app[POOL]
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-TWO-SERVERS")
    reordered = json.dumps(dict(reversed(json.loads(body).items()))).encode()
    answers = await asyncio.gather(
        *(post_all(clients[i % 2], [body, reordered] * 5, bank_key) for i in range(2))
    )
    flat = answers[0] + answers[1]
    assert {status for status, _ in flat} == {200}
    assert sorted(a["status"] for _, a in flat) == ["accepted"] + ["duplicate"] * 19
    assert {a["bank_txn_id"] for _, a in flat} == {"FT-TWO-SERVERS"}
    assert all(groups(c.app)[1] == 10 for c in clients)  # each server settled its ten in its own groups
    conn = await connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM payments_received") == 1
        assert await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind LIKE 'credit.%'") == 1
        assert await conn.fetchval("SELECT count(*) FROM receipts") == 1
        rows = await conn.fetch("SELECT status, outcome, deliveries FROM callback_inbox ORDER BY outcome")
        # both servers' answers name the same first outcome: one row settled it, the other saw it settled
        assert [(r["status"], r["outcome"]) for r in rows] == [
            ("processed", "duplicate:settled"),
            ("processed", "settled"),
        ]
        assert sum(r["deliveries"] for r in rows) == 20
    finally:
        await conn.close()
    await assert_books(db_url, accepted_ids(flat))


_POISON = """
CREATE SEQUENCE poison_calls;
CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    -- a sequence is not rolled back with the savepoint: "once" fails the first attempt only
    IF NEW.reference = '{reference}' AND ('{mode}' = 'always' OR nextval('poison_calls') = 1) THEN
        RAISE EXCEPTION 'poisoned credit';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT ON payments_received FOR EACH ROW EXECUTE FUNCTION poison();
"""


@pytest.mark.parametrize("mode", ["always", "once"])
async def test_a_poison_credit_fails_alone(make_app, aiohttp_client, db_url, keys, bank_key, mode):
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    requests = [await new_request(db_url, keys) for _ in range(5)]
    poisoned = requests[2]
    conn = await connect(db_url)  # the owner: it may add a trigger that the service role could not
    try:
        await conn.execute(_POISON.format(reference=poisoned["reference"], mode=mode))
    finally:
        await conn.close()
    bodies = [v1_body(pr["reference"], txn=f"FT-POISON-{i}") for i, pr in enumerate(requests)]
    answers = await post_all(client, bodies, bank_key)
    assert groups(client.app) == (1, 5)
    # The five are plain: booked together first; the poison fails that set, which rolls back to its
    # savepoint, and they settle one by one. "always": it fails again inside the group and settles alone
    # after it; "once": it failed only in the set, and settles one by one inside the group.
    assert together(client.app) == (0, 0, 1)
    assert alone(client.app, "poison") == (1 if mode == "always" else 0)
    for i, (status, answer) in enumerate(answers):
        if i != 2 or mode == "once":
            assert (status, answer["status"]) == (200, "accepted")
    pool = client.app[POOL]
    poison_row = await pool.fetchrow("SELECT * FROM callback_inbox WHERE bank_txn_id = 'FT-POISON-2'")
    if mode == "always":
        assert (answers[2][0], answers[2][1]["status"]) == (503, "retry")
        # nothing lost: stored with the group, kept for the bank's retry and the sweeper
        assert (poison_row["status"], poison_row["attempts"]) == ("received", 1)
        assert "poisoned credit" in poison_row["last_error"]
        assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE status = 'paid'") == 4
        conn = await connect(db_url)
        try:
            await conn.execute("DROP TRIGGER poison ON payments_received")
        finally:
            await conn.close()
        later = datetime.now(UTC) + timedelta(hours=2)
        assert await reprocess_inbox(pool, client.app[KEYS], now=later) == 1
        accepted = accepted_ids(answers) | {"FT-POISON-2"}
    else:
        assert (poison_row["status"], poison_row["outcome"], poison_row["attempts"]) == (
            "processed",
            "settled",
            1,
        )
        accepted = accepted_ids(answers)
    assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE status = 'paid'") == 5
    assert await pool.fetchval("SELECT count(*) FROM receipts") == 5
    await assert_books(db_url, accepted)


_FAIL_AT_COMMIT = """
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reference = '{reference}' THEN
        RAISE EXCEPTION 'refused at commit';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON payments_received
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
"""


async def test_no_credit_is_answered_accepted_before_its_commit(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    """A deferred check refuses one credit at COMMIT: the whole group rolls back. Had the committer answered
    before committing, every credit of the group would have heard "accepted"; instead each settles alone, and
    the refused one hears "retry" and stays in the inbox."""
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    requests = [await new_request(db_url, keys) for _ in range(4)]
    refused = requests[1]
    conn = await connect(db_url)
    try:
        await conn.execute(_FAIL_AT_COMMIT.format(reference=refused["reference"]))
    finally:
        await conn.close()
    bodies = [v1_body(pr["reference"], txn=f"FT-COMMIT-{i}") for i, pr in enumerate(requests)]
    answers = await post_all(client, bodies, bank_key)
    assert groups(client.app) == (1, 4)
    assert alone(client.app, "group_failed") == 4
    assert (answers[1][0], answers[1][1]["status"]) == (503, "retry")
    assert [answers[i][1]["status"] for i in (0, 2, 3)] == ["accepted"] * 3
    pool = client.app[POOL]
    assert (
        await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", refused["id"]) == "pending"
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM payments_received WHERE bank_txn_id = 'FT-COMMIT-1'") == 0
    )
    row = await pool.fetchrow(
        "SELECT status, attempts, last_error FROM callback_inbox WHERE bank_txn_id = 'FT-COMMIT-1'"
    )
    assert (row["status"], row["attempts"]) == ("received", 1) and "refused at commit" in row["last_error"]
    assert await pool.fetchval("SELECT count(*) FROM callback_inbox") == 4  # each stored once, none lost
    assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE status = 'paid'") == 3
    await assert_books(db_url, accepted_ids(answers))


async def test_group_commit_off_settles_each_callback_alone(make_app, aiohttp_client, db_url, keys, bank_key):
    client = await aiohttp_client(make_app(callback_group_max=0))
    requests = [await new_request(db_url, keys) for _ in range(3)]
    bodies = [v1_body(pr["reference"], txn=f"FT-ALONE-{i}") for i, pr in enumerate(requests)]
    answers = await post_all(client, bodies, bank_key)
    assert [a["status"] for _, a in answers] == ["accepted"] * 3
    assert groups(client.app) == (0, 0)
    await assert_books(db_url, accepted_ids(answers))


@pytest.mark.parametrize("database", ["back at once", "still down"])
async def test_a_group_that_loses_its_connection(
    make_app, aiohttp_client, db_url, keys, bank_key, monkeypatch, database
):
    """The group's connection breaks (it may have broken during COMMIT): each credit goes the way it went
    before group commits; with the database still unavailable there, the banks hear "retry"."""
    import asyncpg

    import payments.group_commit as group_commit

    async def connection_lost(*args, **kwargs):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in mid-operation")

    monkeypatch.setattr(group_commit.GroupCommitter, "_settle_in_one_transaction", connection_lost)
    if database == "still down":
        monkeypatch.setattr(group_commit, "store_and_settle", connection_lost)
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    requests = [await new_request(db_url, keys) for _ in range(3)]
    bodies = [v1_body(pr["reference"], txn=f"FT-LOST-{i}") for i, pr in enumerate(requests)]
    answers = await post_all(client, bodies, bank_key)
    assert groups(client.app) == (1, 3) and alone(client.app, "group_failed") == 3
    pool = client.app[POOL]
    if database == "back at once":
        assert [(status, a["status"]) for status, a in answers] == [(200, "accepted")] * 3
        assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE status = 'paid'") == 3
    else:
        assert [(status, a["status"]) for status, a in answers] == [(503, "retry")] * 3
        assert await pool.fetchval("SELECT count(*) FROM payments_received") == 0
    await assert_books(db_url, accepted_ids(answers))


async def test_pay_pages_hear_of_each_request_a_group_paid(make_app, aiohttp_client, db_url, keys, bank_key):
    from payments.requests import STATUS_CHANNEL

    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    requests = [await new_request(db_url, keys) for _ in range(3)]
    heard: list[str] = []
    listener = await connect(db_url)
    try:
        await listener.add_listener(STATUS_CHANNEL, lambda *args: heard.append(args[3]))
        bodies = [v1_body(pr["reference"], txn=f"FT-HEARD-{i}") for i, pr in enumerate(requests)]
        answers = await post_all(client, bodies, bank_key)
        assert groups(client.app) == (1, 3)
        for _ in range(50):
            if len(heard) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await listener.close()
    assert sorted(heard) == sorted(pr["reference"] for pr in requests)
    await assert_books(db_url, accepted_ids(answers))


async def test_plain_credits_book_together_and_the_others_one_by_one(
    make_app, aiohttp_client, db_url, keys, bank_key
):
    """One group of every kind of credit: the plain ones (exact, over, under, unknown reference, a cancelled
    request) are booked by the set-based statements; two credits for one request, a request holding an earlier
    part payment, and an expired request paid in time settle one by one. Each ends as it would alone."""
    client = await aiohttp_client(make_app(callback_group_window_ms=WIDE))
    a, b, c, e, f, g, h = [await new_request(db_url, keys) for _ in range(7)]
    pool = client.app[POOL]
    await pool.execute(
        "UPDATE payment_requests SET status = 'cancelled', closed_at = now() WHERE id = $1", f["id"]
    )
    await pool.execute(
        "UPDATE payment_requests SET status = 'expired', closed_at = now() WHERE id = $1", h["id"]
    )
    # G holds a part payment from an earlier group
    first = await post_all(client, [v1_body(g["reference"], 50_000, txn="FT-MIX-G1")], bank_key)
    assert first[0][1]["status"] == "accepted"
    bodies = {
        "FT-MIX-A": v1_body(a["reference"], 200_000, txn="FT-MIX-A"),
        "FT-MIX-B": v1_body(b["reference"], 250_000, txn="FT-MIX-B"),
        "FT-MIX-C": v1_body(c["reference"], 50_000, txn="FT-MIX-C"),
        "FT-MIX-D": v1_body("CPZZZZZZZZZZZ", 70_000, txn="FT-MIX-D"),
        "FT-MIX-E1": v1_body(e["reference"], 100_000, txn="FT-MIX-E1"),
        "FT-MIX-E2": v1_body(e["reference"], 100_000, txn="FT-MIX-E2"),
        "FT-MIX-F": v1_body(f["reference"], 200_000, txn="FT-MIX-F"),
        "FT-MIX-G2": v1_body(g["reference"], 150_000, txn="FT-MIX-G2"),
        "FT-MIX-H": v1_body(h["reference"], 200_000, txn="FT-MIX-H"),
    }
    answers = await post_all(client, list(bodies.values()), bank_key)
    assert [a_["status"] for _, a_ in answers] == ["accepted"] * 9
    assert groups(client.app) == (2, 10)  # G's first payment alone, then the nine together
    assert together(client.app) == (1, 5, 0)  # A, B, C, D, F
    assert alone(client.app, "poison") == 0
    outcomes = dict(await pool.fetch("SELECT bank_txn_id, outcome FROM payments_received"))
    assert outcomes == {
        "FT-MIX-G1": "underpaid",
        "FT-MIX-A": "settled",
        "FT-MIX-B": "overpaid",
        "FT-MIX-C": "underpaid",
        "FT-MIX-D": "unknown_reference",
        "FT-MIX-E1": "underpaid",
        "FT-MIX-E2": "settled",
        "FT-MIX-F": "cancelled",
        "FT-MIX-G2": "settled",
        "FT-MIX-H": "settled",
    }
    states = {
        r["id"]: (r["status"], r["amount_received"])
        for r in await pool.fetch("SELECT id, status, amount_received FROM payment_requests")
    }
    assert [states[r["id"]] for r in (a, b, c, e, f, g, h)] == [
        ("paid", 200_000),
        ("paid", 250_000),
        ("pending", 50_000),
        ("paid", 200_000),
        ("cancelled", 0),
        ("paid", 200_000),
        ("paid", 200_000),
    ]
    inbox = dict(
        await pool.fetch("SELECT bank_txn_id, outcome FROM callback_inbox WHERE status = 'processed'")
    )
    assert inbox == outcomes
    # the money: the excess of B is due back, D and F wait in suspense, C's part is held
    balances = dict(
        await pool.fetch(
            """SELECT a.path, sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
                WHERE a.path IN ('liability:refunds', 'liability:suspense', 'liability:held')
                GROUP BY a.path"""
        )
    )
    assert balances == {
        "liability:refunds": -50_000,
        "liability:suspense": -270_000,
        "liability:held": -50_000,
    }
    receipts = {
        r["payment_request_id"]: json.loads(r["body"])
        for r in await pool.fetch("SELECT payment_request_id, body FROM receipts ORDER BY number")
    }
    assert set(receipts) == {a["id"], b["id"], e["id"], g["id"], h["id"]}
    assert [t["id"] for t in receipts[g["id"]]["bank_transactions"]] == ["FT-MIX-G1", "FT-MIX-G2"]
    assert [t["id"] for t in receipts[b["id"]]["bank_transactions"]] == ["FT-MIX-B"]
    assert receipts[b["id"]]["amount_paid"] == 250_000 and receipts[a["id"]]["fee_name"]
    await assert_books(db_url, accepted_ids([*first, *answers]))
