"""Money in. Other capabilities (parking, later reconciliation) use only what is exported here; the ledger
is its own package (`ledger`)."""

from payments.banks import BankProfile, NotSupported, scheme_named
from payments.callback_issues import callback_issues as open_callback_issues
from payments.callbacks import load_bank_profile
from payments.catalogue import (
    StatementSource,
    active_collection_account_codes,
    collection_account_bins,
    collection_account_in_use,
    statement_sources,
)
from payments.narrative import redact_narrative
from payments.reference import find_reference_in_narrative
from payments.requests import (
    NewRequest,
    business_date_of,
    cancel_payment_request,
    issue_payment_request,
    payment_summary,
    request_status,
)
from payments.settlement import Settlement, collection_accounts_to_close, settle_statement_credit

__all__ = [
    "BankProfile",
    "NewRequest",
    "NotSupported",
    "Settlement",
    "StatementSource",
    "active_collection_account_codes",
    "business_date_of",
    "cancel_payment_request",
    "collection_account_bins",
    "collection_account_in_use",
    "collection_accounts_to_close",
    "find_reference_in_narrative",
    "issue_payment_request",
    "load_bank_profile",
    "open_callback_issues",
    "payment_summary",
    "redact_narrative",
    "request_status",
    "scheme_named",
    "settle_statement_credit",
    "statement_sources",
]
