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
    payout_destination_problem,
    statement_sources,
)
from payments.narrative import redact_narrative
from payments.opening_balances import record_opening_balance
from payments.payment_detail import (
    CollectionAccount,
    PaidPerRevenueAccount,
    bank_amounts_per_revenue_account,
    callbacks_for_request,
    collection_accounts,
    credits_for_request,
    held_payments,
    paid_per_revenue_account,
    payment_by_reference,
    search_payments,
    suspense_credits,
)
from payments.reference import find_reference_in_narrative
from payments.requests import (
    NewRequest,
    PreparedRequest,
    business_date_of,
    cancel_payment_request,
    issue_payment_request,
    payment_summary,
    prepare_request,
    request_insert_when_sql,
    request_status,
    summary_of,
    supersede_request,
)
from payments.settlement import Settlement, collection_accounts_to_close, settle_statement_credit

__all__ = [
    "BankProfile",
    "CollectionAccount",
    "NewRequest",
    "NotSupported",
    "PaidPerRevenueAccount",
    "PreparedRequest",
    "Settlement",
    "StatementSource",
    "active_collection_account_codes",
    "bank_amounts_per_revenue_account",
    "business_date_of",
    "callbacks_for_request",
    "cancel_payment_request",
    "collection_account_bins",
    "collection_account_in_use",
    "collection_accounts",
    "collection_accounts_to_close",
    "credits_for_request",
    "find_reference_in_narrative",
    "held_payments",
    "issue_payment_request",
    "load_bank_profile",
    "open_callback_issues",
    "paid_per_revenue_account",
    "payment_by_reference",
    "payment_summary",
    "payout_destination_problem",
    "prepare_request",
    "record_opening_balance",
    "redact_narrative",
    "request_insert_when_sql",
    "request_status",
    "scheme_named",
    "search_payments",
    "settle_statement_credit",
    "statement_sources",
    "summary_of",
    "supersede_request",
    "suspense_credits",
]
