"""The double-entry ledger. Other capabilities (payments, parking, later reconciliation and disbursements)
use only what is exported here; `ledger` imports nothing above `core`."""

from ledger.entries import (
    BalanceRow,
    EntryConflict,
    JournalEntry,
    Line,
    UnbalancedEntry,
    account_balance,
    entry_lines,
    post_entry,
    trial_balance,
)

__all__ = [
    "BalanceRow",
    "EntryConflict",
    "JournalEntry",
    "Line",
    "UnbalancedEntry",
    "account_balance",
    "entry_lines",
    "post_entry",
    "trial_balance",
]
