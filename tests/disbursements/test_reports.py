"""Disbursement reports per programme and period: paid, refused by reason code (with its meaning), held by
reason, returned, unknown, and coverage of the enrolled with the gap's reasons — as JSON, a page and a CSV
(BOM, formula-safe); bad input is a 422 and nobody but staff who may read it gets it."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, replace

import asyncpg
import pytest

from core.keys import AppKeys
from core.pii import encrypt_pii
from disbursements.batches import approve_batch, build_batch, cancel_batch
from disbursements.reports import disbursement_report
from tests.banksim.conftest import banksim_db  # noqa: F401  (a fixture)
from tests.disbursements.test_batches import add_beneficiary
from tests.disbursements.test_execution import bank, execute, pool  # noqa: F401  (fixtures and a runner)

PERIOD = "2026-01"


@pytest.fixture
async def client(make_app, aiohttp_client):
    """The app without background tasks: the tests play execution themselves, no worker races them."""
    return await aiohttp_client(make_app(background=False))


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "CSV starts with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


@dataclass
class Spec:
    """One beneficiary of the fixture and what becomes of their item (None: enrolled, in no batch)."""

    name: str
    amount: int
    state: str | None  # held | ready | paid | failed | sent_unknown | returned | None
    reason: str | None = None  # hold reason or refusal code
    masked: str | None = None


# 10 enrolled: 4 paid (one of them returned later → 3 covered), 2 refused (AC04, MD07), 2 held (unverified,
# no_account), 1 unknown, 1 in no batch.
SPECS = [
    Spec("Nguyễn Văn An", 3_000_000, "paid"),
    Spec("Trần Thị Bình", 3_100_000, "paid"),
    Spec("Lê Văn Cường", 3_200_000, "paid"),
    Spec("Phạm Thị Dung", 3_300_000, "returned"),
    Spec("Hoàng Văn Em", 2_000_000, "failed", "AC04"),
    Spec("Đặng Thị Phương", 2_100_000, "failed", "MD07"),
    Spec("Vũ Văn Giang", 1_500_000, "held", "unverified"),
    Spec("Bùi Thị Hoa", 1_600_000, "held", "no_account", masked='=HYPERLINK("x")'),
    Spec("Đỗ Văn Ích", 2_500_000, "sent_unknown"),
    Spec("Ngô Thị Kim", 2_700_000, None),
]


def _hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def enrol(
    conn: asyncpg.Connection, keys: AppKeys, specs: list[Spec], *, programme: str, tag: str
) -> None:
    """Beneficiaries, enrolments and accounts of `specs` (verified unless the spec holds them out)."""
    for n, s in enumerate(specs):
        cccd = f"001{abs(hash((tag, n, s.name, programme))) % 10**9:09d}"
        ben = await conn.fetchval(
            """INSERT INTO disb_beneficiaries (national_id_enc, national_id_hash, national_id_masked,
                   full_name_enc, full_name_masked, birth_date)
               VALUES ($1, $2, $3, $4, $5, '1950-05-05') RETURNING id""",
            encrypt_pii(keys, cccd, context="disb.national_id"),
            _hash(f"{tag}cccd{n}{programme}"),
            cccd[:3] + "******" + cccd[-3:],
            encrypt_pii(keys, s.name, context="disb.name"),
            s.masked or s.name[:1] + "***",
        )
        await conn.execute(
            "INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount) VALUES ($1, $2, $3)",
            programme,
            ben,
            s.amount,
        )
        if s.reason == "no_account":
            continue
        number = f"9704{n:08d}"
        await conn.execute(
            """INSERT INTO disb_accounts (beneficiary_id, bank_bin, account_enc, account_hash,
                   account_masked, state, checked_at, verified_until)
               VALUES ($1, '970415', $2, $3, $4, $5,
                       CASE WHEN $5 = 'verified' THEN now() END,
                       CASE WHEN $5 = 'verified' THEN now() + interval '90 days' END)""",
            ben,
            encrypt_pii(keys, number, context="disb.account"),
            _hash(f"{tag}acct{n}{programme}"),
            "****" + number[-4:],
            "unverified" if s.reason == "unverified" else "verified",
        )


async def seed(
    conn: asyncpg.Connection,
    keys: AppKeys,
    specs: list[Spec] = SPECS,
    *,
    programme: str = "pension",
    period: str = PERIOD,
    execute: bool = True,
    tag: str = "",
    maker: str = "staff:maker",
    checker: str = "staff:checker",
    channel: str = "api",
) -> int:
    """The roster of `specs`, a batch built from it (batches.build_batch: held items carry the roster's
    reason), the specs with no state enrolled only afterwards (in no batch); with `execute`, approved by
    another person (batches.approve_batch) and each item moved as execution moves it to its final state.
    The batch's id."""
    await enrol(conn, keys, [s for s in specs if s.state is not None], programme=programme, tag=tag)
    batch = (await build_batch(conn, programme, period, maker=maker, channel=channel)).id
    await enrol(conn, keys, [s for s in specs if s.state is None], programme=programme, tag=tag + "late")
    if not execute:
        return batch
    await approve_batch(conn, batch, checker=checker)
    await conn.execute("UPDATE disb_batches SET state = 'executing', started_at = now() WHERE id = $1", batch)
    # Execution's outcomes, written the way the worker writes them (sending first, then the bank's answer).
    items = await conn.fetch(
        "SELECT id, amount FROM disb_items WHERE batch_id = $1 AND state = 'ready' ORDER BY beneficiary_id",
        batch,
    )
    outcomes = [s for s in specs if s.state not in (None, "held")]
    assert len(items) == len(outcomes)
    for item, s in zip(items, outcomes, strict=True):
        assert item["amount"] == s.amount
        await conn.execute(
            "UPDATE disb_items SET state = 'sending', lease_until = now() + interval '1 minute' "
            "WHERE id = $1",
            item["id"],
        )
        if s.state in ("paid", "returned"):
            await conn.execute(
                "UPDATE disb_items SET state = 'paid', lease_until = NULL, bank_txn_id = 'BANK' || id "
                "WHERE id = $1",
                item["id"],
            )
            if s.state == "returned":
                await conn.execute("UPDATE disb_items SET state = 'returned' WHERE id = $1", item["id"])
        elif s.state == "failed":
            await conn.execute(
                "UPDATE disb_items SET state = 'failed', lease_until = NULL, reason_code = $2, "
                "retryable = false WHERE id = $1",
                item["id"],
                s.reason,
            )
        elif s.state == "sent_unknown":
            await conn.execute("UPDATE disb_items SET state = 'sent_unknown' WHERE id = $1", item["id"])
    return batch


async def complete(conn: asyncpg.Connection, batch: int) -> None:
    """What execution does last: resolve the unknown (here: paid) and complete the batch."""
    await conn.execute(
        "UPDATE disb_items SET state = 'paid', lease_until = NULL, bank_txn_id = 'LATE' || id "
        "WHERE batch_id = $1 AND state = 'sent_unknown'",
        batch,
    )
    await conn.execute(
        "UPDATE disb_batches SET state = 'completed', completed_at = now() WHERE id = $1", batch
    )


# The report's figures ----------------------------------------


async def test_report_counts_and_sums_every_outcome(conn, keys) -> None:
    batch = await seed(conn, keys)
    r = await disbursement_report(conn, "pension", PERIOD)
    assert [b.id for b in r.batches] == [batch]
    assert (r.paid.count, r.paid.amount) == (3, 9_300_000)
    assert {(b.key, b.count, b.amount) for b in r.failed} == {("AC04", 1, 2_000_000), ("MD07", 1, 2_100_000)}
    assert {(b.key, b.count, b.amount) for b in r.held} == {
        ("unverified", 1, 1_500_000),
        ("no_account", 1, 1_600_000),
    }
    assert (r.returned.count, r.returned.amount) == (1, 3_300_000)
    assert (r.sent_unknown.count, r.sent_unknown.amount) == (1, 2_500_000)
    assert r.in_progress.count == 0
    assert (r.enrolled, r.covered, r.coverage_pct, r.gap_count) == (10, 3, 30.0, 7)
    gap = {b.key: (b.count, b.amount) for b in r.gap}
    assert gap == {
        "sent_unknown": (1, 2_500_000),
        "returned": (1, 3_300_000),
        "failed:AC04": (1, 2_000_000),
        "failed:MD07": (1, 2_100_000),
        "held:unverified": (1, 1_500_000),
        "held:no_account": (1, 1_600_000),
        "not_in_batch": (1, 2_700_000),  # the monthly amount owed
    }
    assert [b.key for b in r.gap][:2] == ["sent_unknown", "returned"]  # money that may be out comes first


async def test_other_programmes_and_periods_do_not_leak_in(conn, keys) -> None:
    await seed(conn, keys)
    await seed(conn, keys, SPECS[:3], programme="unemployment", tag="u")
    await seed(conn, keys, SPECS[:2], period="2026-02", tag="f", execute=False, programme="social_assistance")
    r = await disbursement_report(conn, "pension", PERIOD)
    assert (r.paid.count, r.enrolled, len(r.batches)) == (3, 10, 1)
    u = await disbursement_report(conn, "unemployment", PERIOD)
    assert (u.paid.count, u.enrolled, u.covered, u.coverage_pct) == (3, 3, 3, 100.0)
    assert u.gap == []
    empty = await disbursement_report(conn, "social_insurance", PERIOD)
    assert (empty.enrolled, empty.coverage_pct, empty.batches) == (0, None, [])
    waiting = await disbursement_report(conn, "social_assistance", "2026-02")
    assert (waiting.in_progress.count, waiting.in_progress.amount) == (2, 6_100_000)
    assert {b.key: b.count for b in waiting.gap} == {"in_progress": 2}


async def test_a_cancelled_batch_counts_as_no_batch_until_built_again(conn, keys) -> None:
    batch = await seed(conn, keys, SPECS[:4], execute=False)
    await cancel_batch(conn, batch, actor="staff:maker", note="sai kỳ")
    r = await disbursement_report(conn, "pension", PERIOD)
    assert [(b.id, b.state) for b in r.batches] == [(batch, "cancelled")]
    assert (r.cancelled.count, r.cancelled.amount) == (4, 12_600_000)
    assert (r.enrolled, r.covered) == (4, 0)
    assert {b.key: b.count for b in r.gap} == {"not_in_batch": 4}
    again = await build_batch(conn, "pension", PERIOD, maker="staff:maker")
    r = await disbursement_report(conn, "pension", PERIOD)
    assert [b.id for b in r.batches] == [batch, again.id]
    assert {b.key: b.count for b in r.gap} == {"in_progress": 4}  # once each, not twice
    assert r.in_progress.count == 4 and r.cancelled.count == 4


async def test_coverage_rounds_down(conn, keys) -> None:
    """2 of 3 is 66.6 %, never 66.7 %; and 999 of 1000 is never shown as 100 %."""
    await seed(conn, keys, [Spec("A", 1, "paid"), Spec("B", 1, "paid"), Spec("C", 1, None)])
    r = await disbursement_report(conn, "pension", PERIOD)
    assert r.coverage_pct == 66.6


async def test_report_after_real_execution_against_the_simulated_bank(
    bank,  # noqa: F811
    conn,
    pool,  # noqa: F811
    keys,
    settings,
    client,
    staff_login,
) -> None:
    """Built and approved by C's functions, executed by C's worker against the simulated bank: two payouts
    refused (AC04 closed, MD07 deceased), one beneficiary held (unverified), one enrolled after the batch."""
    _, url, _ = bank
    settings = replace(settings, banksim_url=url)
    for name, account, bin_, amount in (
        ("Nguyễn Văn An", "0011000456789", "970436", 3_000_000),
        ("Ngọc Trần Thị Bích", "0011000567890", "970436", 2_000_000),
        ("Đỗ Thị Mai", "101876543210", "970415", 1_000_000),
        ("Hoàng Minh Đức", "0011000890123", "970436", 1_100_000),  # closed at the bank: AC04
        ("Đặng Văn Bình", "1500205123456", "970405", 1_300_000),  # deceased: MD07
    ):
        await add_beneficiary(conn, keys, name=name, account=account, bin_=bin_, amount=amount)
    await add_beneficiary(
        conn, keys, name="Lý Thị Hà", account="0011000111222", amount=900_000, state="unverified"
    )
    batch = await build_batch(conn, "pension", "2026-01", maker="staff:maker")
    await approve_batch(conn, batch.id, checker="staff:checker")
    await add_beneficiary(conn, keys, name="Trịnh Văn Mới", account="0011000333444", amount=800_000)
    await execute(pool, keys, settings, batch.id)

    r = await disbursement_report(conn, "pension", "2026-01")
    assert (r.paid.count, r.paid.amount) == (3, 6_000_000)
    assert {(b.key, b.count, b.amount) for b in r.failed} == {("AC04", 1, 1_100_000), ("MD07", 1, 1_300_000)}
    assert [(b.key, b.count) for b in r.held] == [("unverified", 1)]
    assert (r.enrolled, r.covered, r.coverage_pct) == (7, 3, 42.8)
    assert {b.key: b.count for b in r.gap} == {
        "failed:AC04": 1,
        "failed:MD07": 1,
        "held:unverified": 1,
        "not_in_batch": 1,
    }
    finance = await staff_login("finance")
    html = await (
        await client.get("/disbursements/reports?programme=pension&period=2026-01", headers=finance.headers())
    ).text()
    assert "42,8 %" in html and "Tài khoản đã đóng" in html and "Người hưởng đã mất" in html
    batch_page = await (
        await client.get(f"/disbursements/batches/{batch.id}", headers=finance.headers())
    ).text()
    assert "Hoàn tất" in batch_page and 'data-code="AC04"' in batch_page and 'data-code="MD07"' in batch_page
    assert 'id="pain001"' not in batch_page  # paid through the API: no file to pay it a second time
    pain = await client.get(f"/disbursements/batches/{batch.id}/pain001.xml", headers=finance.headers())
    assert pain.status == 409


# Over HTTP ----------------------------------------


async def test_report_api_answers_the_figures_with_meanings(client, conn, keys, staff_login) -> None:
    await seed(conn, keys)
    finance = await staff_login("finance")
    resp = await client.get(
        f"/api/v1/disbursements/reports?programme=pension&period={PERIOD}", headers=finance.headers()
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["paid"] == {"key": "paid", "count": 3, "amount": 9_300_000}
    ac04 = next(f for f in body["failed"] if f["key"] == "AC04")
    assert ac04["meaning_vi"] == "Tài khoản đã đóng" and ac04["meaning_en"] == "Closed account"
    held = {h["key"]: h for h in body["held"]}
    assert held["unverified"]["meaning_en"] == "Unverified" and held["no_account"]["count"] == 1
    assert body["coverage"]["enrolled"] == 10 and body["coverage"]["paid"] == 3
    assert body["coverage"]["pct"] == 30.0
    gap = {g["key"]: g for g in body["coverage"]["gap"]}
    assert gap["not_in_batch"]["meaning_en"] == "In no batch yet"
    assert gap["failed:MD07"]["meaning_vi"].endswith("Người hưởng đã mất (MD07)")
    assert body["returned"]["count"] == 1 and body["sent_unknown"]["count"] == 1


async def test_report_api_reads_with_a_token_scope(client, conn, keys, api_token) -> None:
    await seed(conn, keys)
    token = await api_token("disbursements:read")
    resp = await client.get(
        f"/api/v1/disbursements/reports?programme=pension&period={PERIOD}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200
    other = await api_token("reconciliation:read")
    resp = await client.get(
        f"/api/v1/disbursements/reports?programme=pension&period={PERIOD}",
        headers={"Authorization": f"Bearer {other}"},
    )
    assert resp.status == 403


@pytest.mark.parametrize(
    "query",
    [
        "programme=pension",
        "period=2026-01",
        "programme=lottery&period=2026-01",
        "programme=pension&period=2026-13",
        "programme=pension&period=2026-1",
        "programme=pension&period=0001-01",
        "programme=pension&period=2026-01&period=2026-02",
        "programme=pension&period=2026-01%00",
        "programme=pension&period=2026-01&extra=1",
    ],
)
async def test_bad_queries_are_422(client, staff_login, query) -> None:
    finance = await staff_login("finance")
    resp = await client.get(f"/api/v1/disbursements/reports?{query}", headers=finance.headers())
    assert resp.status in (400, 422), (query, resp.status, await resp.text())
    assert resp.content_type == "application/problem+json"


async def test_who_may_read(client, staff_login) -> None:
    url = f"/api/v1/disbursements/reports?programme=pension&period={PERIOD}"
    assert (await client.get(url)).status == 401
    attendant = await staff_login("attendant")
    assert (await client.get(url, headers=attendant.headers())).status == 403
    page = f"/disbursements/reports?programme=pension&period={PERIOD}"
    assert (await client.get(page, headers=attendant.headers())).status == 403
    assert (
        await client.get(page.replace("reports", "reports.csv"), headers=attendant.headers())
    ).status == 403
    for role in ("finance", "admin", "approver"):
        who = await staff_login(role)
        assert (await client.get(url, headers=who.headers())).status == 200, role
        assert (await client.get(page, headers=who.headers())).status == 200, role


async def test_report_page_in_vietnamese_then_english(client, conn, keys, staff_login) -> None:
    await seed(conn, keys, SPECS * 1)
    finance = await staff_login("finance")
    page = await client.get(
        f"/disbursements/reports?programme=pension&period={PERIOD}", headers=finance.headers()
    )
    html = await page.text()
    assert page.status == 200
    assert "Độ bao phủ" in html and "30,0 %" in html and "Tài khoản đã đóng" in html
    assert "9.300.000 ₫" in html  # money the Vietnamese way
    assert 'data-code="AC04"' in html and 'data-code="MD07"' in html
    assert "Còn thiếu 7 người" in html
    english = await client.get(
        f"/disbursements/reports?programme=pension&period={PERIOD}",
        headers={"Cookie": f"citypay_session={finance.cookie}; lang=en"},
    )
    text = await english.text()
    assert "Coverage" in text and "30.0 %" in text and "Closed account" in text and "Độ bao phủ" not in text
    # The page with nothing chosen shows this month's pension report.
    assert (await client.get("/disbursements/reports", headers=finance.headers())).status == 200


async def test_report_csv_is_bom_and_formula_safe(client, conn, keys, staff_login) -> None:
    await seed(conn, keys)
    finance = await staff_login("finance")
    resp = await client.get(
        f"/disbursements/reports.csv?programme=pension&period={PERIOD}", headers=finance.headers()
    )
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert resp.headers["Cache-Control"] == "no-store"
    rows = rows_of(await resp.read())
    assert rows[0] == ["Mục", "Mã", "Nội dung", "Số lượng", "Số tiền (đồng)"]
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("paid", "paid")][3:] == ["3", "9300000"]
    assert by_key[("failed", "AC04")][2] == "Tài khoản đã đóng"
    assert by_key[("coverage", "paid")][2:4] == ["30,0 %", "3"]
    assert by_key[("gap", "not_in_batch")][3:] == ["1", "2700000"]
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r)
