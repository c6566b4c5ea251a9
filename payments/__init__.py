"""Money in. Other capabilities (parking, later reconciliation) use only what is exported here; the ledger
is its own package (`ledger`)."""

from payments.banks import BankProfile, NotSupported, scheme_named
from payments.callbacks import load_bank_profile
from payments.catalogue import (
    StatementSource,
    active_collection_account_codes,
    collection_account_bins,
    collection_account_in_use,
    statement_sources,
)
from payments.narrative import redact_narrative
from payments.requests import (
    NewRequest,
    business_date_of,
    cancel_payment_request,
    issue_payment_request,
    payment_summary,
    request_status,
)

__all__ = [
    "BankProfile",
    "NewRequest",
    "NotSupported",
    "StatementSource",
    "active_collection_account_codes",
    "business_date_of",
    "cancel_payment_request",
    "collection_account_bins",
    "collection_account_in_use",
    "issue_payment_request",
    "load_bank_profile",
    "payment_summary",
    "redact_narrative",
    "request_status",
    "scheme_named",
    "statement_sources",
]
