"""Each vocabulary once (issue 9, point 8): the enums and patterns the code uses are the ones the database's
CHECK constraints allow, and every constraint name the code maps to a problem exists in the database — a
renamed constraint would otherwise surface as a 500 instead of a clear 409/422."""

from __future__ import annotations

import re
import typing

import pytest

from core.db import connect
from core.vocabulary import FEE_CODE_PATTERN, USERNAME_PATTERN, Role
from ledger.pending import Guard
from parking.vocabulary import CloseReason, SessionStatus, VehicleClass
from payments.banks.scheme import SCHEMES
from payments.vocabulary import InboxStatus, KeyKind, RequestKind, RequestStatus, SettlementOutcome

# (table, column) → the values the code's vocabulary holds
ENUMS: dict[tuple[str, str], set[str]] = {
    ("staff_users", "role"): set(Role),
    ("payment_requests", "status"): set(RequestStatus),
    ("payment_requests", "kind"): set(RequestKind),
    ("payments_received", "outcome"): set(SettlementOutcome),
    ("callback_inbox", "status"): set(InboxStatus),
    ("bank_keys", "kind"): set(KeyKind),
    ("bank_profiles", "scheme"): set(SCHEMES),
    ("lot_capacities", "vehicle_class"): set(VehicleClass),
    ("tariffs", "vehicle_class"): set(VehicleClass),
    ("monthly_passes", "vehicle_class"): set(VehicleClass),
    ("parking_sessions", "vehicle_class"): set(VehicleClass),
    ("parking_sessions", "status"): set(SessionStatus),
    ("parking_sessions", "close_reason"): set(CloseReason),
    ("ledger_accounts", "guard"): set(typing.get_args(Guard)),
}
PATTERNS: dict[tuple[str, str], str] = {
    ("staff_users", "username"): USERNAME_PATTERN,
    ("fee_catalogue", "code"): FEE_CODE_PATTERN,
}


@pytest.fixture
async def checks(db_url) -> list[tuple[str, str]]:
    conn = await connect(db_url)
    try:
        rows = await conn.fetch(
            """SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                WHERE c.contype = 'c' AND n.nspname = 'public'"""
        )
    finally:
        await conn.close()
    return [(r["tbl"], r["def"]) for r in rows]


def _defs_for(checks, table: str, column: str) -> list[str]:
    return [d for t, d in checks if t == table and re.search(rf"\(\(?{column}\b", d)]


@pytest.mark.parametrize(("table", "column"), sorted(ENUMS))
async def test_each_enum_is_what_the_database_allows(checks, table, column):
    defs = [d for d in _defs_for(checks, table, column) if "ANY (ARRAY[" in d]
    assert len(defs) == 1, f"expected one list CHECK on {table}.{column}, found {defs}"
    allowed = set(re.findall(r"'([^']*)'::text", defs[0]))
    assert allowed == ENUMS[(table, column)]


@pytest.mark.parametrize(("table", "column"), sorted(PATTERNS))
async def test_each_pattern_is_what_the_database_checks(checks, table, column):
    defs = [d for d in _defs_for(checks, table, column) if " ~ " in d]
    assert len(defs) == 1, defs
    (pattern,) = re.findall(r"~ '([^']*)'::text", defs[0])
    assert pattern == PATTERNS[(table, column)]


async def test_every_mapped_constraint_exists(db_url):
    """A name counts if it is a constraint, an index (CREATE UNIQUE INDEX reports the index) or what a trigger
    function raises with USING CONSTRAINT = ..."""
    import main  # noqa: F401 — every capability's modules, so every map_constraint call has run
    from core.errors import mapped_constraints

    conn = await connect(db_url)
    try:
        names = {
            r["name"]
            for r in await conn.fetch(
                """SELECT conname AS name FROM pg_constraint
                   UNION SELECT indexrelid::regclass::text FROM pg_index"""
            )
        }
        sources = await conn.fetch(
            "SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public'"
        )
        for row in sources:
            names |= set(re.findall(r"CONSTRAINT\s*=\s*'([a-z0-9_]+)'", row["prosrc"], re.IGNORECASE))
    finally:
        await conn.close()
    mapped = mapped_constraints()
    assert len(mapped) > 20
    assert mapped - names == set()
