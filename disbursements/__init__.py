"""Disbursements: the city's social-security payments to verified bank accounts (issue 11).

Programmes and beneficiaries (CCCD, name and account number encrypted, found by keyed hash, masked
everywhere), account verification through the bank-scheme seam (name inquiry, optionally the holder's ID),
monthly batches with four eyes, payouts on the outbox, returns and reports. It builds on `ledger`,
`payments.banks` (the scheme seam) and `core`; see docs/ARCHITECTURE.md.

Public modules: `disbursements.beneficiaries` (`decrypt_account`, `decrypt_name`, the roster's reader side),
`disbursements.batches` (`batch_summary`)."""
