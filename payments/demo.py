"""Demo payments data: the city's collection account, common Hà Nội fees and subsidy programmes."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from core.demo_bank_key import (
    DEMO_BANK_BIN,
    DEMO_BANK_CODE,
    DEMO_CITY_ACCOUNT,
    ensure_demo_bank_key,
    public_key_pem,
)
from core.keys import AppKeys
from core.settings import Settings
from ledger.accounts import fee_revenue

# Every page that shows the simulated bank shows this name: nobody may take it for a real bank.
SIMULATED_BANK_NAME = "Ngân hàng mô phỏng (SIMULATED) – giả lập Vietcombank, không có tiền thật"
# A made-up account at Vietcombank for the demo; the simulated bank plays it.
DEMO_COLLECTION = ("hanoi-treasury", DEMO_BANK_BIN, DEMO_CITY_ACCOUNT, "KHO BAC NHA NUOC HA NOI")
DEMO_FEES = [
    (
        "LLTP",
        "Phí cấp Phiếu lý lịch tư pháp",
        "Judicial record certificate fee",
        200_000,
        "Sở Tư pháp Hà Nội",
        fee_revenue("LLTP"),
    ),
    (
        "GPLX-DOI",
        "Lệ phí cấp đổi giấy phép lái xe",
        "Driving licence renewal fee",
        135_000,
        "Sở Xây dựng Hà Nội",
        fee_revenue("GPLX-DOI"),
    ),
    (
        "HT-BANSAO",
        "Phí cấp bản sao trích lục hộ tịch",
        "Civil status extract copy fee",
        8_000,
        "UBND phường Hoàn Kiếm",
        fee_revenue("HT-BANSAO"),
    ),
]
DEMO_SUBSIDIES = [
    # The city paid the judicial-record fee for VNeID applications until 31-12-2024 (≈ 9.7 billion đồng).
    (
        "vneid-lltp-2024",
        "Miễn phí LLTP qua VNeID 2024",
        "Free judicial records via VNeID 2024",
        "LLTP",
        "vneid",
        200_000,
        9_700_000_000,
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 12, 31, 17, tzinfo=UTC),
    ),
    # A small open programme so the demo shows a fully subsidised request (10 requests' worth).
    (
        "vneid-lltp-demo",
        "Miễn phí LLTP qua VNeID (demo)",
        "Free judicial records via VNeID (demo)",
        "LLTP",
        "vneid",
        200_000,
        2_000_000,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 12, 31, 17, tzinfo=UTC),
    ),
]


async def _register_simulated_bank(conn: asyncpg.Connection, settings: Settings) -> None:
    """The bank simulator plays Vietcombank: register its profile and its current public key."""
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    await conn.execute(
        """INSERT INTO bank_profiles (code, name, bin, scheme) VALUES ($1, $2, $3, 'citypay-bank-v1')
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name""",
        DEMO_BANK_CODE,
        SIMULATED_BANK_NAME,
        DEMO_BANK_BIN,
    )
    known = await conn.fetchval(
        "SELECT 1 FROM bank_keys WHERE bank_code = $1 AND key_id = $2", DEMO_BANK_CODE, key_id
    )
    if not known:  # var/ was reset: the simulator has a new key; retire the old ones
        await conn.execute(
            "UPDATE bank_keys SET retired_at = now() WHERE bank_code = $1 AND retired_at IS NULL",
            DEMO_BANK_CODE,
        )
        await conn.execute(
            "INSERT INTO bank_keys (bank_code, key_id, kind, public_key_pem) VALUES ($1, $2, 'ed25519', $3)",
            DEMO_BANK_CODE,
            key_id,
            public_key_pem(key),
        )
    # Profiles start inactive and need an active key to be switched on (0005).
    await conn.execute("UPDATE bank_profiles SET active = true WHERE code = $1", DEMO_BANK_CODE)


async def load_payments_demo(conn: asyncpg.Connection, settings: Settings, keys: AppKeys) -> None:
    code, bin_, account, holder = DEMO_COLLECTION
    account_id = await conn.fetchval(
        """INSERT INTO collection_accounts (code, bin, account_number, holder_name) VALUES ($1, $2, $3, $4)
           ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING id""",
        code,
        bin_,
        account,
        holder,
    )
    for fee_code, name_vi, name_en, amount, agency, revenue in DEMO_FEES:
        await conn.execute(
            """INSERT INTO fee_catalogue (code, name_vi, name_en, amount, agency, revenue_account,
                   collection_account_id, active_from)
               VALUES ($1, $2, $3, $4, $5, $6, $7, '2024-01-01') ON CONFLICT (code) DO NOTHING""",
            fee_code,
            name_vi,
            name_en,
            amount,
            agency,
            revenue,
            account_id,
        )
    for row in DEMO_SUBSIDIES:
        await conn.execute(
            """INSERT INTO subsidy_programmes (code, name_vi, name_en, fee_code, channel, per_request,
                   budget_cap, valid_from, valid_until)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO NOTHING""",
            *row,
        )
    await _register_simulated_bank(conn, settings)
