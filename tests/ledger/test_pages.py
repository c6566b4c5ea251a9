"""The trial balance for a period, with named accounts, and the drill-down to one account's entries."""

from __future__ import annotations

from datetime import date

import pytest

from core.appkeys import POOL
from ledger import accounts, post_entry

BANK = accounts.bank_account("970436", "0011")
FEE = accounts.fee_revenue("LLTP")


@pytest.fixture
async def booked(client):
    """Three days of bookings: 100 on 1 Nov, 30 on 2 Nov (a pay-page payment), 5 on 3 Nov (parking cash)."""
    async with client.app[POOL].acquire() as conn:
        await conn.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011', 'KHO BAC')"""
        )
        await post_entry(
            conn,
            idempotency_key="a",
            kind="payment",
            business_date=date(2026, 11, 1),
            lines=[(BANK, 100), (FEE, -100)],
        )
        await post_entry(
            conn,
            idempotency_key="b",
            kind="credit.settled",
            business_date=date(2026, 11, 2),
            lines=[(BANK, 30), (FEE, -20), (accounts.REFUNDS_DUE, -10)],
            refs={"reference": "CPABC123", "payment_request": "42"},
            memo="overpaid by 10",
        )
        await post_entry(
            conn,
            idempotency_key="c",
            kind="parking.cash",
            business_date=date(2026, 11, 3),
            lines=[(accounts.lot_cash(7), 5), (accounts.parking_revenue(7), -5)],
            refs={"session": "5f0c7a57-0000-4000-8000-000000000001"},
        )
    return client


async def test_period_has_opening_movements_and_closing(booked, staff_login):
    finance = await staff_login("finance")
    resp = await booked.get(
        "/api/v1/ledger/trial-balance?from=2026-11-02&to=2026-11-02", headers=finance.headers()
    )
    assert resp.status == 200
    body = await resp.json()
    assert (body["from"], body["to"], body["as_of"]) == ("2026-11-02", "2026-11-02", "2026-11-02")
    rows = {a["account"]: a for a in body["accounts"]}
    assert set(rows) == {BANK, FEE, accounts.REFUNDS_DUE}  # nothing of 3 Nov
    bank = rows[BANK]
    assert (bank["opening"], bank["debits"], bank["credits"], bank["closing"]) == (100, 30, 0, 130)
    assert (bank["debit"], bank["credit"]) == (130, 0)
    fee = rows[FEE]
    assert (fee["opening"], fee["debits"], fee["credits"], fee["closing"]) == (-100, 0, 20, -120)
    assert body["total_debit"] == body["total_credit"] == 130 and body["balanced"]
    assert bank["name"] == "Tiền gửi ngân hàng 970436 · 0011"
    english = await (
        await booked.get(
            "/api/v1/ledger/trial-balance?as_of=2026-11-01",
            headers={**finance.headers(), "Accept-Language": "en"},
        )
    ).json()
    assert {a["account"]: a["name"] for a in english["accounts"]} == {
        BANK: "Bank account 970436 · 0011",
        FEE: "Fee revenue LLTP",
    }
    assert english["from"] is None and english["accounts"][0]["opening"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "as_of=2026-11-02&to=2026-11-03",
        "from=2026-11-03&to=2026-11-02",
        "start=2026-11-01",
        "as_of=0001-01-01",  # the years every date input of the service takes: 2000–2100
        "as_of=9999-12-31",
        "from=1999-12-31",
        "to=20261102",  # ISO's basic form, but not the YYYY-MM-DD the API says
    ],
)
async def test_contradictory_periods_and_dates_out_of_range_are_422(booked, staff_login, query):
    finance = await staff_login("finance")
    resp = await booked.get(f"/api/v1/ledger/trial-balance?{query}", headers=finance.headers())
    assert resp.status == 422


async def test_page_names_accounts_and_drills_down_to_entries(booked, staff_login):
    finance = await staff_login("finance")
    text = await (await booked.get("/ledger/trial-balance?from=2026-11-02", headers=finance.headers())).text()
    assert "Tiền gửi ngân hàng 970436 · 0011" in text and f"<code>{BANK}</code>" in text
    assert "Số dư đầu kỳ" in text
    assert "/ledger/accounts/asset%3Abank%3A970436%3A0011?from=2026-11-02" in text

    page = await booked.get(
        "/ledger/accounts/asset%3Abank%3A970436%3A0011?from=2026-11-02", headers=finance.headers()
    )
    assert page.status == 200
    text = await page.text()
    assert "<td>#2<br>" in text and "<td>#1<br>" not in text  # entry 1 is before the period
    assert "2026-11-02" in text and "overpaid by 10" in text
    assert "Thu phí, lệ phí LLTP" in text and "Tiền thừa phải hoàn trả" in text  # counter-accounts
    assert 'href="/pay/CPABC123"' in text

    cash = await (
        await booked.get(f"/ledger/accounts/{accounts.lot_cash(7)}", headers=finance.headers())
    ).text()
    assert "5f0c7a57-0000-4000-8000-000000000001" in cash and "Lượt gửi xe" in cash


async def test_account_entries_api(booked, api_token):
    token = await api_token("ledger:read")
    resp = await booked.get(
        f"/api/v1/ledger/accounts/{FEE}/entries?to=2026-11-02", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200
    body = await resp.json()
    assert [(e["entry_id"], e["amount"], e["counter_accounts"]) for e in body["entries"]] == [
        (1, -100, [BANK]),
        (2, -20, [BANK, accounts.REFUNDS_DUE]),
    ]
    assert body["entries"][1]["refs"] == {"reference": "CPABC123", "payment_request": "42"}
    assert not body["truncated"]
    missing = await booked.get(
        "/api/v1/ledger/accounts/nonsense/entries", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status == 404
