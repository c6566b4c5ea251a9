"""The double-entry ledger. Other capabilities (payments, parking, later reconciliation and disbursements)
use only what is exported here and the chart of accounts, `ledger.accounts`; `ledger` imports nothing above
`core`."""

from ledger.balances import BalanceRow, account_balance, account_entries, period_balances, trial_balance
from ledger.days import ClosedDay, DayAlreadyClosed, DayClosed, close_day, last_closed_day, open_day_for
from ledger.entries import EntryConflict, JournalEntry, Line, UnbalancedEntry, entry_lines, post_entry
from ledger.pending import (
    InsufficientFunds,
    Pending,
    PendingResolved,
    ReserveConflict,
    guard_account,
    post_pending,
    reserve,
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
    "Pending",
    "PendingResolved",
    "ReserveConflict",
    "UnbalancedEntry",
    "account_balance",
    "account_entries",
    "close_day",
    "entry_lines",
    "guard_account",
    "last_closed_day",
    "open_day_for",
    "period_balances",
    "post_entry",
    "post_pending",
    "reserve",
    "trial_balance",
    "void_pending",
]
