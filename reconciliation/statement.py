"""What every statement parser returns, whatever the bank's format: one `Statement` per account and period,
with its balances and lines. Money is integer đồng; a line's amount is positive and `direction` says which
way it went (a reversal keeps the direction the bank printed and sets `reversal`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Direction = Literal["credit", "debit"]


@dataclass(frozen=True)
class StatementLine:
    bank_ref: str  # the bank's own reference: camt AcctSvcrRef, MT940 ":61:" //bank reference, a CSV column
    booking_date: date
    direction: Direction
    amount: int  # > 0, whole đồng
    narrative: (
        str  # the bank's text, clear (personal data: the importer encrypts it and keeps a redacted copy)
    )
    value_date: date | None = None
    end_to_end_id: str | None = None
    reversal: bool = False
    counterparty_name: str | None = None
    counterparty_account: str | None = None  # as printed (often already masked by the bank)


_new = object.__new__


def plain_line(
    bank_ref: str,
    booking_date: date,
    direction: Direction,
    amount: int,
    narrative: str,
    value_date: date | None,
    end_to_end_id: str | None,
    reversal: bool,
) -> StatementLine:
    """`StatementLine(...)` (no counterparty) without the frozen dataclass's `__init__`, which sets each of
    its ten fields through `object.__setattr__`: the same object (equal, same hash) at half the cost, for
    parsers that build a million lines. Every field is filled here; only the setattr calls are skipped."""
    line = _new(StatementLine)
    line.__dict__.update(
        bank_ref=bank_ref,
        booking_date=booking_date,
        direction=direction,
        amount=amount,
        narrative=narrative,
        value_date=value_date,
        end_to_end_id=end_to_end_id,
        reversal=reversal,
        counterparty_name=None,
        counterparty_account=None,
    )
    return line


@dataclass(frozen=True)
class Statement:
    format: str  # "camt.053.001.02", "camt.053.001.08", "camt.054.001.02", "mt940", "csv:<mapping>"
    statement_id: str  # camt <Stmt><Id>, MT940 :20:, or derived from the file for CSV
    account: str  # the account number the statement is for
    currency: str
    from_date: date
    to_date: date
    sequence: int | None = None  # camt ElctrncSeqNb, MT940 :28C: statement number
    opening_balance: int | None = None  # signed đồng (credit positive); None: the format carries none
    closing_balance: int | None = None
    lines: list[StatementLine] = field(default_factory=list)

    def net(self) -> int:
        return sum(line.amount if line.direction == "credit" else -line.amount for line in self.lines)


class StatementRefused(ValueError):
    """A file that cannot be read as a statement, said for a person: what is wrong and where."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
