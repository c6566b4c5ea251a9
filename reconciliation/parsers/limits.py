"""What a statement must hold, whatever its format, before anything of it is stored or booked: dates in the
years every other date input of the service takes (2000–2100: a year 9999 stored as PostgreSQL's
`infinity` breaks every page that subtracts dates, and a ledger entry dated `infinity` belongs to no day),
its period in order, references and numbers that fit their columns, balances that can be checked, and
amounts that no city account could hold (so no sum of them nears the 64-bit limit of the ledger's columns).
"""

from __future__ import annotations

from datetime import date

from core.timebounds import EARLIEST_YEAR, LATEST_YEAR
from reconciliation.statement import Statement, StatementRefused

EARLIEST, LATEST = date(EARLIEST_YEAR, 1, 1), date(LATEST_YEAR, 12, 31)
# One quadrillion đồng: above any balance or transfer of a city's account (Hà Nội's yearly budget is about
# 4 × 10^14), far below 9.2 × 10^18, the ledger's bigint limit, even summed over a million lines.
MAX_AMOUNT = 10**15
MAX_REF = 140  # recon_statements.statement_ref, recon_lines.bank_ref and end_to_end_id (migration 0013)
MAX_SEQUENCE = 2**31 - 1  # recon_statements.sequence is an integer


def _date(value: date | None, what: str, where: str) -> None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise StatementRefused(
            f"{what} {value.isoformat()} is not in {EARLIEST_YEAR}–{LATEST_YEAR}", where=where
        )


def _ref(value: str | None, what: str, where: str) -> None:
    if value is not None and len(value) > MAX_REF:
        raise StatementRefused(f"{what} is {len(value)} characters long, at most {MAX_REF}", where=where)


def check_limits(statement: Statement, where: str) -> None:
    """Refuses (StatementRefused, saying what and where) a statement outside these limits."""
    _date(statement.from_date, "the period's first day", where)
    _date(statement.to_date, "the period's last day", where)
    if statement.from_date > statement.to_date:
        raise StatementRefused(
            f"the period runs backwards: from {statement.from_date} to {statement.to_date}", where=where
        )
    if not 1 <= len(statement.statement_id) <= MAX_REF:
        raise StatementRefused(f"the statement's id must be 1–{MAX_REF} characters", where=where)
    if statement.sequence is not None and not 0 <= statement.sequence <= MAX_SEQUENCE:
        raise StatementRefused(f"sequence number {statement.sequence} is out of range", where=where)
    if (statement.opening_balance is None) != (statement.closing_balance is None):
        missing = "closing" if statement.closing_balance is None else "opening"
        raise StatementRefused(
            f"the statement has one balance but no {missing} balance: its lines cannot be checked",
            where=where,
        )
    for balance in (statement.opening_balance, statement.closing_balance):
        if balance is not None and abs(balance) > MAX_AMOUNT:
            raise StatementRefused(f"balance {balance} is beyond {MAX_AMOUNT} đồng", where=where)
    for n, line in enumerate(statement.lines, start=1):
        if not 0 < line.amount <= MAX_AMOUNT or not EARLIEST <= line.booking_date <= LATEST:
            at = f"{where}, line {n}"
            if line.amount > MAX_AMOUNT:
                raise StatementRefused(f"amount {line.amount} is beyond {MAX_AMOUNT} đồng", where=at)
            if line.amount <= 0:
                raise StatementRefused(f"amount {line.amount} is not positive", where=at)
            _date(line.booking_date, "booking date", at)
        if line.value_date is not None and not EARLIEST <= line.value_date <= LATEST:
            _date(line.value_date, "value date", f"{where}, line {n}")
        if not 0 < len(line.bank_ref) <= MAX_REF or len(line.end_to_end_id or "") > MAX_REF:
            at = f"{where}, line {n}"
            if not line.bank_ref:
                raise StatementRefused("the line has no bank reference", where=at)
            _ref(line.bank_ref, "the bank reference", at)
            _ref(line.end_to_end_id, "the end-to-end id", at)
