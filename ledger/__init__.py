"""The double-entry ledger. Other capabilities (payments, parking, later reconciliation and disbursements)
use only what is exported here; `ledger` imports nothing above `core`."""

from ledger.balances import BalanceRow, account_balance, account_entries, period_balances, trial_balance
from ledger.days import ClosedDay, DayAlreadyClosed, DayClosed, close_day, last_closed_day
from ledger.entries import EntryConflict, JournalEntry, Line, UnbalancedEntry, entry_lines, post_entry

__all__ = [
    "BalanceRow",
    "ClosedDay",
    "DayAlreadyClosed",
    "DayClosed",
    "EntryConflict",
    "JournalEntry",
    "Line",
    "UnbalancedEntry",
    "account_balance",
    "account_entries",
    "close_day",
    "entry_lines",
    "last_closed_day",
    "period_balances",
    "post_entry",
    "trial_balance",
]
