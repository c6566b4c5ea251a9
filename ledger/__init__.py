"""The double-entry ledger. Other capabilities (payments, parking, later reconciliation and disbursements)
use only what is exported here and the chart of accounts, `ledger.accounts`; `ledger` imports nothing above
`core`."""

from ledger.balances import BalanceRow, account_balance, account_entries, period_balances, trial_balance
from ledger.days import ClosedDay, DayAlreadyClosed, DayClosed, close_day, last_closed_day, open_day_for
from ledger.entries import EntryConflict, JournalEntry, Line, UnbalancedEntry, entry_lines, post_entry
from ledger.pending import (
    InsufficientFunds,
    Part,
    PartConflict,
    PartsResult,
    Pending,
    PendingResolved,
    ReserveConflict,
    ReserveExceeded,
    guard_account,
    pending_by_id,
    post_part,
    post_pending,
    release_part,
    reserve,
    resolve_parts,
    void_pending,
)

__all__ = [
    "BalanceRow",
    "ClosedDay",
    "DayAlreadyClosed",
    "DayClosed",
    "EntryConflict",
    "InsufficientFunds",
    "JournalEntry",
    "Line",
    "Part",
    "PartConflict",
    "PartsResult",
    "Pending",
    "PendingResolved",
    "ReserveConflict",
    "ReserveExceeded",
    "UnbalancedEntry",
    "account_balance",
    "account_entries",
    "close_day",
    "entry_lines",
    "guard_account",
    "last_closed_day",
    "open_day_for",
    "pending_by_id",
    "period_balances",
    "post_entry",
    "post_part",
    "post_pending",
    "release_part",
    "reserve",
    "resolve_parts",
    "trial_balance",
    "void_pending",
]
