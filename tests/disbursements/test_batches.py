"""Batches over HTTP and in the database: built from the roster (payable → ready, the rest held with the
reason, control totals fixed), one per programme and period, maker ≠ checker (API 409 and the DB CHECK), an
approved batch cannot change (the DB refuses), cancel before execution only, masked item pages."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta

import asyncpg
import pytest

from core.keys import AppKeys
from core.pii import encrypt_pii, lookup_hash, mask_account, mask_citizen_id
from disbursements.batches import approve_batch, build_batch
from tests.disbursements.conftest import register_city_account

_ids = itertools.count(1)
BASE = "/api/v1/disbursements/batches"


async def add_beneficiary(
    conn: asyncpg.Connection,
    keys: AppKeys,
    *,
    name: str,
    account: str,
    bin_: str = "970436",
    amount: int = 3_000_000,
    programme: str = "pension",
    state: str = "verified",
    verified_days: int = 90,
) -> int:
    """A beneficiary with one active account in `state`, enrolled in `programme` (as the service stores
    them: encrypted, hashed, masked)."""
    cccd = f"001{next(_ids) + 10**8:09d}"
    beneficiary_id = await conn.fetchval(
        """INSERT INTO disb_beneficiaries (national_id_enc, national_id_hash, national_id_masked,
               full_name_enc,
               full_name_masked, birth_date)
           VALUES ($1, $2, $3, $4, $5, '1950-05-01') RETURNING id""",
        encrypt_pii(keys, cccd, context="disb.national_id"),
        lookup_hash(keys, cccd, context="disb.national_id"),
        mask_citizen_id(cccd),
        encrypt_pii(keys, name, context="disb.name"),
        name[0] + "***",
    )
    await conn.execute(
        "INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount) VALUES ($1, $2, $3)",
        programme,
        beneficiary_id,
        amount,
    )
    await add_account(conn, keys, beneficiary_id, account=account, bin_=bin_, state=state, days=verified_days)
    return beneficiary_id


async def add_account(
    conn: asyncpg.Connection,
    keys: AppKeys,
    beneficiary_id: int,
    *,
    account: str,
    bin_: str,
    state: str,
    days: int = 90,
) -> int:
    """A new active account (the previous one made inactive), as a change of account does."""
    await conn.execute(
        "UPDATE disb_accounts SET active = false WHERE beneficiary_id = $1 AND active", beneficiary_id
    )
    return await conn.fetchval(
        """INSERT INTO disb_accounts (beneficiary_id, bank_bin, account_enc, account_hash, account_masked,
               state,
               checked_at, verified_until)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 <> 'unverified' THEN now() END,
                   CASE WHEN $6 = 'verified' THEN now() + make_interval(days => $7) END) RETURNING id""",
        beneficiary_id,
        bin_,
        encrypt_pii(keys, account, context="disb.account"),
        lookup_hash(keys, account, context="disb.account"),
        mask_account(account),
        state,
        days,
    )


@pytest.fixture
async def roster(conn, keys):
    """Three payable pensioners and three held ones (unverified, mismatch, no account)."""
    await register_city_account(conn)
    ids = {
        "an": await add_beneficiary(
            conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000
        ),
        "ngoc": await add_beneficiary(
            conn, keys, name="Trần Thị Bích Ngọc", account="0011000567890", amount=2_500_000
        ),
        "thang": await add_beneficiary(
            conn, keys, name="Lê Đức Thắng", account="0011000678901", amount=1_500_000
        ),
        "new": await add_beneficiary(
            conn, keys, name="Phạm Thị Hương", account="0011000789012", state="unverified"
        ),
        "odd": await add_beneficiary(
            conn, keys, name="Đỗ Thị Mai", account="101876543210", bin_="970415", state="mismatch"
        ),
    }
    # enrolled without any account
    cccd = "001099000777"
    no_account = await conn.fetchval(
        """INSERT INTO disb_beneficiaries (national_id_enc, national_id_hash, national_id_masked,
               full_name_enc,
               full_name_masked, birth_date) VALUES ($1, $2, $3, $4, 'B***', '1950-01-01') RETURNING id""",
        encrypt_pii(keys, cccd, context="disb.national_id"),
        lookup_hash(keys, cccd, context="disb.national_id"),
        mask_citizen_id(cccd),
        encrypt_pii(keys, "Bùi Văn Hùng", context="disb.name"),
    )
    await conn.execute(
        "INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount) "
        "VALUES ('pension', $1, 900000)",
        no_account,
    )
    ids["none"] = no_account
    return ids


async def _state(conn, batch_id: int) -> tuple:
    row = await conn.fetchrow(
        "SELECT state, control_count, control_sum FROM disb_batches WHERE id = $1", batch_id
    )
    items = await conn.fetchval("SELECT count(*) FROM disb_items WHERE batch_id = $1", batch_id)
    return (*row, items)


async def test_build_over_http_fixes_totals_holds_the_unpayable_and_refuses_a_second(
    roster, client, staff_login, conn
):
    finance = await staff_login("finance")
    resp = await client.post(
        BASE, json={"programme": "pension", "period": "2026-01"}, headers=finance.headers(unsafe=True)
    )
    assert resp.status == 201, await resp.text()
    batch = await resp.json()
    assert batch["state"] == "awaiting_approval" and batch["maker"] == f"staff:{finance.username}"
    assert (batch["control_count"], batch["control_sum"], batch["held_count"]) == (3, 7_000_000, 3)
    assert batch["counts"]["ready"] == 3 and batch["counts"]["held"] == 3 and batch["counts"]["paid"] == 0
    assert batch["held_by_reason"] == {"mismatch": 1, "no_account": 1, "unverified": 1}

    again = await client.post(
        BASE, json={"programme": "pension", "period": "2026-01"}, headers=finance.headers(unsafe=True)
    )
    assert again.status == 409 and again.content_type == "application/problem+json"
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 1

    for bad in (
        {"programme": "pension", "period": "2026-13"},
        {"programme": "lottery", "period": "2026-01"},
        {"programme": "pension", "period": "2026-1"},
        {"programme": "pension", "period": "2026-01", "extra": 1},
    ):
        refused = await client.post(BASE, json=bad, headers=finance.headers(unsafe=True))
        assert refused.status == 422, bad
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 1

    page = await client.get(f"{BASE}/{batch['id']}/items?state=held", headers=finance.headers())
    assert page.status == 200
    held = (await page.json())["items"]
    assert sorted(i["hold_reason"] for i in held) == ["mismatch", "no_account", "unverified"]
    text = await page.text()
    for secret in ("0011000789012", "101876543210", "Phạm", "001099000777", "Đỗ Thị Mai"):
        assert secret not in text  # masked in every answer
    assert {i["account_number"] for i in held} == {"****9012", "****3210", None}
    listed = await client.get(BASE, headers=finance.headers())
    assert [b["id"] for b in (await listed.json())["batches"]] == [batch["id"]]


async def test_maker_cannot_approve_their_own_batch_api_and_database(roster, client, staff_login, conn):
    approver = await staff_login("approver")
    other = await staff_login("approver")
    # A batch whose maker is this approver (built through the service: the API lets only finance build).
    batch = await build_batch(conn, "pension", "2026-02", maker=f"staff:{approver.username}")
    resp = await client.post(f"{BASE}/{batch.id}/approve", json={}, headers=approver.headers(unsafe=True))
    assert resp.status == 409 and (await resp.json())["type"].endswith("approval-four-eyes")
    assert (await _state(conn, batch.id))[0] == "awaiting_approval"
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'disbursements.execute'") == 0

    with pytest.raises(asyncpg.CheckViolationError) as exc:
        await conn.execute(
            "UPDATE disb_batches SET state = 'approved', checker = maker, approved_at = now() WHERE id = $1",
            batch.id,
        )
    assert exc.value.constraint_name == "disb_batches_four_eyes"

    finance = await staff_login("finance")
    forbidden = await client.post(f"{BASE}/{batch.id}/approve", json={}, headers=finance.headers(unsafe=True))
    assert forbidden.status == 403
    ok = await client.post(
        f"{BASE}/{batch.id}/approve", json={"note": "đã kiểm tra"}, headers=other.headers(unsafe=True)
    )
    assert ok.status == 200, await ok.text()
    assert (await ok.json())["state"] == "approved" and (await ok.json())[
        "checker"
    ] == f"staff:{other.username}"
    lanes = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'disbursements.execute'")
    assert lanes >= 1
    twice = await client.post(f"{BASE}/{batch.id}/approve", json={}, headers=other.headers(unsafe=True))
    assert twice.status == 409
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY seq")]
    assert "disb.batch_built" in actions and "disb.batch_approved" in actions


async def test_an_approved_batch_cannot_be_edited(roster, conn):
    batch = await build_batch(conn, "pension", "2026-03", maker="staff:maker")
    await approve_batch(conn, batch.id, checker="staff:checker")
    item = await conn.fetchval(
        "SELECT id FROM disb_items WHERE batch_id = $1 AND state = 'ready' LIMIT 1", batch.id
    )
    for sql, constraint in (
        ("UPDATE disb_items SET amount = amount + 1 WHERE id = $1", "disb_items_fixed"),
        ("UPDATE disb_items SET account_id = NULL WHERE id = $1", "disb_items_fixed"),
        (
            "UPDATE disb_batches SET control_sum = control_sum + 1 "
            "WHERE id = (SELECT batch_id FROM disb_items WHERE id = $1)",
            "disb_batches_fixed",
        ),
        ("UPDATE disb_items SET state = 'paid', bank_txn_id = 'FT1' WHERE id = $1", "disb_items_forward"),
        (
            "UPDATE disb_batches SET state = 'awaiting_approval' "
            "WHERE id = (SELECT batch_id FROM disb_items WHERE id = $1)",
            "disb_batches_forward",
        ),
    ):
        with pytest.raises(asyncpg.CheckViolationError) as exc:
            await conn.execute(sql, item)
        assert exc.value.constraint_name == constraint, sql
    with pytest.raises(asyncpg.CheckViolationError) as exc:  # no item joins a batch after it was built
        await conn.execute(
            """INSERT INTO disb_items (batch_id, programme, period, beneficiary_id, amount, end_to_end_id,
                   state)
               VALUES ($1, 'pension', '2026-03', $2, 1, 'X1', 'ready')""",
            batch.id,
            roster["none"],
        )
    assert exc.value.constraint_name == "disb_items_fixed"
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await conn.execute("DELETE FROM disb_items WHERE id = $1", item)
    assert (await _state(conn, batch.id)) == ("approved", 3, 7_000_000, 6)


async def build_over_api(client, finance, period: str) -> dict:
    """A pension batch for `period`, built by `finance` over HTTP (its answer)."""
    resp = await client.post(
        BASE, json={"programme": "pension", "period": period}, headers=finance.headers(unsafe=True)
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_cancel_before_execution_frees_the_period_and_not_after(roster, client, staff_login, conn):
    finance = await staff_login("finance")
    approver = await staff_login("approver")
    built = await build_over_api(client, finance, "2026-04")
    resp = await client.post(
        f"{BASE}/{built['id']}/cancel", json={"note": "sai kỳ"}, headers=finance.headers(unsafe=True)
    )
    assert resp.status == 200 and (await resp.json())["state"] == "cancelled"
    assert (await resp.json())["counts"]["cancelled"] == 6
    # approving a cancelled batch is refused, and its approval was not carried out
    refused = await client.post(
        f"{BASE}/{built['id']}/approve", json={}, headers=approver.headers(unsafe=True)
    )
    assert refused.status == 409
    # the period is free: a new batch with the same beneficiaries (the cancelled items stay on record)
    rebuilt = await client.post(
        BASE, json={"programme": "pension", "period": "2026-04"}, headers=finance.headers(unsafe=True)
    )
    assert rebuilt.status == 201
    rebuilt_id = (await rebuilt.json())["id"]
    assert await conn.fetchval("SELECT count(*) FROM disb_items WHERE period = '2026-04'") == 12
    # a cancelled batch stays cancelled (so its items never compete with the new batch's)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE disb_batches SET state = 'awaiting_approval' WHERE id = $1", built["id"])
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE disb_items SET state = 'ready' WHERE batch_id = $1", built["id"])
    ok = await client.post(f"{BASE}/{rebuilt_id}/approve", json={}, headers=approver.headers(unsafe=True))
    assert ok.status == 200
    await conn.execute(
        "UPDATE disb_batches SET state = 'executing', started_at = now() WHERE id = $1", rebuilt_id
    )
    late = await client.post(f"{BASE}/{rebuilt_id}/cancel", json={}, headers=finance.headers(unsafe=True))
    assert late.status == 409 and (await late.json())["type"].endswith("disb-batch-started")
    assert (await _state(conn, rebuilt_id))[0] == "executing"
    missing = await client.get(f"{BASE}/999999", headers=finance.headers())
    assert missing.status == 404


async def test_an_approved_batch_that_has_not_started_can_be_cancelled(roster, client, staff_login, conn):
    """Approved but not started (waiting for funds): its cancel was a 500 from a check that wanted a
    cancelled batch never approved, and the batch would have paid on its own once funded."""
    finance = await staff_login("finance")
    approver = await staff_login("approver")
    built = await build_over_api(client, finance, "2026-06")
    ok = await client.post(f"{BASE}/{built['id']}/approve", json={}, headers=approver.headers(unsafe=True))
    assert ok.status == 200 and (await ok.json())["state"] == "approved"
    resp = await client.post(
        f"{BASE}/{built['id']}/cancel", json={"note": "chưa đủ tiền"}, headers=finance.headers(unsafe=True)
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "cancelled"
    row = await conn.fetchrow("SELECT * FROM disb_batches WHERE id = $1", built["id"])
    assert row["approved_at"] is not None and row["cancelled_at"] is not None  # both on record
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM disb_items WHERE batch_id = $1 AND state <> 'cancelled'", built["id"]
        )
        == 0
    )
    with pytest.raises(asyncpg.CheckViolationError):  # and it stays cancelled
        await conn.execute("UPDATE disb_batches SET state = 'executing' WHERE id = $1", built["id"])


async def test_an_expired_verification_is_held_at_build(conn, keys):
    await register_city_account(conn)
    await add_beneficiary(
        conn, keys, name="Ngô Thị Lan", account="0987654321", bin_="970422", verified_days=-1
    )
    batch = await build_batch(conn, "pension", "2026-05", maker="staff:m")
    assert (batch.control_count, batch.held_count) == (0, 1)
    assert (
        await conn.fetchval("SELECT hold_reason FROM disb_items WHERE batch_id = $1", batch.id) == "expired"
    )
    assert date.today() - timedelta(days=1) < date.today()


async def test_the_approvals_inbox_approves_a_batch_too(roster, client, staff_login, conn):
    """core's four-eyes inbox (/api/v1/approvals/{id}/approve) carries out the same handler."""
    finance = await staff_login("finance")
    approver = await staff_login("approver")
    built = await build_over_api(client, finance, "2026-06")
    approval_id = await conn.fetchval("SELECT approval_id FROM disb_batches WHERE id = $1", built["id"])
    resp = await client.post(
        f"/api/v1/approvals/{approval_id}/approve", json={}, headers=approver.headers(unsafe=True)
    )
    assert resp.status == 200, await resp.text()
    batch = await (await client.get(f"{BASE}/{built['id']}", headers=finance.headers())).json()
    assert batch["state"] == "approved" and batch["checker"] == f"staff:{approver.username}"
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'disbursements.execute'") == 4


async def test_the_same_batch_approved_through_both_doors_at_once_is_approved_once_without_errors(
    roster, client, staff_login, conn
):
    """The batch's own approve and the approvals inbox took the batch's and the approval's rows in opposite
    orders: sent together they deadlocked, and one answered 500 (7 times in 8 in an outside test)."""
    finance = await staff_login("finance")
    approvers = [await staff_login("approver") for _ in range(2)]
    for period in ("2026-07", "2026-08", "2026-09", "2026-10"):
        built = await build_over_api(client, finance, period)
        approval_id = await conn.fetchval("SELECT approval_id FROM disb_batches WHERE id = $1", built["id"])
        answers = await asyncio.gather(
            *(
                client.post(url, json={}, headers=who.headers(unsafe=True))
                for url in (f"{BASE}/{built['id']}/approve", f"/api/v1/approvals/{approval_id}/approve")
                for who in approvers
            )
        )
        statuses = sorted(a.status for a in answers)
        assert statuses.count(200) == 1 and all(s == 409 for s in statuses if s != 200), statuses
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'approval.approved' AND subject = $1",
                f"approval:{approval_id}",
            )
            == 1
        )
        assert (await _state(conn, built["id"]))[0] == "approved"


async def test_an_admin_builds_no_batch_so_cannot_pay_one_with_an_approver_of_their_own(
    roster, client, staff_login, conn
):
    """Admins manage staff accounts: one who could build a batch created an approver, logged in as it and
    paid the batch alone (an outside audit). Batches are finance's, as SPEC.md says."""
    admin = await staff_login("admin")
    resp = await client.post(
        BASE, json={"programme": "pension", "period": "2026-11"}, headers=admin.headers(unsafe=True)
    )
    assert resp.status == 403
    page = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": admin.csrf, "programme": "pension", "period": "2026-11", "channel": "api"},
        headers=admin.headers(),
    )
    assert page.status == 403
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 0
