"""Reconciliation: bank statements in, matched strict-to-loose against what the ledger and the callbacks say,
exceptions worked by finance with four eyes, and each bank account's day closed only when bank and ledger
agree. It builds on `payments` (public surface) and `ledger`; see docs/ARCHITECTURE.md.

Public modules: `reconciliation.statement` (the parsed-statement model every parser returns),
`reconciliation.parsers` (read a file into it), `reconciliation.claims` (another capability claims the bank
lines it recognises — disbursements its returned payouts)."""
