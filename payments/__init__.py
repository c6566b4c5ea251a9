"""Money in. Other capabilities (parking, later reconciliation) use only what is exported here; the ledger
is its own package (`ledger`)."""

from payments.catalogue import active_collection_account_codes, collection_account_in_use
from payments.requests import (
    NewRequest,
    business_date_of,
    cancel_payment_request,
    issue_payment_request,
    payment_summary,
    request_status,
)

__all__ = [
    "NewRequest",
    "active_collection_account_codes",
    "business_date_of",
    "cancel_payment_request",
    "collection_account_in_use",
    "issue_payment_request",
    "payment_summary",
    "request_status",
]
