"""Disbursements' demo data. The journey in issue 11 imports `demo_beneficiaries.csv` by hand (the import
page offers it as the sample file): twelve pensioners whose accounts the simulated bank holds (banksim/bank.py
CITIZEN_ACCOUNTS). Eight verify — four with the CCCD confirmed by the bank, four at other banks asked through
the network; two of those (PHAN VAN TOAN, LY THI HANH) are closed / deceased at their bank although the
network's directory still answers their names (banksim NETWORK_STALE), so their payouts are refused AC04 and
MD07 and execution stops them. One name differs (LE DUC THANG at the bank, "Lê Đức Thành" here: a mismatch
for review); one account is closed, one blocked and one holder deceased as the name inquiry already says —
held at verification, never sent.

Demo mode itself preloads two other beneficiaries, in programmes the journey does not use, so the lists are
not empty on a fresh `make run`; each programme is filled only while it has no beneficiaries at all.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import asyncpg

from core.capability import RealData
from core.demo import has_rows
from core.keys import AppKeys
from core.pii import mask_citizen_id
from core.settings import Settings
from disbursements.beneficiaries import NewBeneficiary, enrol_beneficiary

SAMPLE_CSV = Path(__file__).with_name("demo_beneficiaries.csv")
PRELOADED = (
    NewBeneficiary(
        "001165006666",
        "Đỗ Thị Mai",
        date(1965, 6, 6),
        {"social_assistance": 500_000},
        "970415",
        "101876543210",
    ),
    NewBeneficiary(
        "022170007777", "Ngô Thị Lan", date(1970, 7, 7), {"unemployment": 3_000_000}, "970422", "0987654321"
    ),
)


async def load_disbursements_demo(conn: asyncpg.Connection, settings: Settings, keys: AppKeys) -> None:
    for new in PRELOADED:
        [programme] = new.amounts
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM disb_enrolments WHERE programme = $1)", programme
        ):
            continue
        await enrol_beneficiary(conn, keys, new, actor="demo", idempotent=True)


def demo_masked_ids() -> set[str]:
    """The masked CCCDs of the demo's people: those preloaded and those of the sample file."""
    with SAMPLE_CSV.open(encoding="utf-8") as fh:
        sample = {row["national_id"] for row in csv.DictReader(fh)}
    return {mask_citizen_id(cccd) for cccd in sample | {new.national_id for new in PRELOADED}}


async def probe(conn: asyncpg.Connection) -> RealData:
    """Beneficiaries other than the demo's own are real people: demo data never goes beside them."""
    found = await has_rows(conn, ("disb_beneficiaries",))
    masked = {r[0] for r in await conn.fetch("SELECT DISTINCT national_id_masked FROM disb_beneficiaries")}
    return RealData(tables_with_rows=found, looks_like_demo=masked <= demo_masked_ids())
