"""The chart of accounts: every account the service books, built by name, and its human name in Vietnamese
and English. No account path is spelled anywhere else (a test in tests/ledger/test_accounts.py holds that).

A path is `type:segment[:segment…]` (type: asset, liability, equity, revenue, expense). The builders only
spell paths; `post_entry` checks their shape (a 422 naming the line, as before), and the database refuses
any other shape (migrations/0001) and any `asset:bank:…` account that is not a registered collection account
(migrations/0005).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

ACCOUNT_PATH = re.compile(r"^(asset|liability|equity|revenue|expense)(:[A-Za-z0-9_.-]+)+$")

# Money received for somebody and held for finance: late, cancelled, already paid, unknown reference, above
# the sanity cap, or to another city account. Refunded or re-applied by hand.
SUSPENSE = "liability:suspense"
# Part payments of a request that is not yet fully paid; applied when the rest arrives.
HELD = "liability:held"
# Overpayments the city owes back to the payer.
REFUNDS_DUE = "liability:refunds"
# Reconciliation's corrections, approved by a second person: what the bank charged by netting it from a
# credit (a fee netted), and a difference finance gave up on (written off).
BANK_CHARGES = "expense:bank_charges"
WRITE_OFFS = "expense:reconciliation_write_off"
# What a collection account already held when citypay started booking it (the counterpart of its first entry).
OPENING_BALANCES = "equity:opening_balances"

_BANK = "asset:bank"
_LOT_CASH = "asset:cash:lot"
_FEE_REVENUE = "revenue:fee"
_PARKING_REVENUE = "revenue:parking"
_SUBSIDY_EXPENSE = "expense:subsidy"
_BENEFIT_EXPENSE = "expense:benefit"

# A fee's own revenue account may be any account under revenue:fee (the catalogue checks it with this).
FEE_REVENUE_PATTERN = r"^revenue:fee(:[A-Za-z0-9_.-]+)+$"
# How the catalogue describes the default, for forms and the OpenAPI document.
FEE_REVENUE_HINT = f"{_FEE_REVENUE}:<…>"


def bank_account(bin_: str, account_number: str) -> str:
    """A city collection account at a bank, by the bank's BIN and the account number."""
    return f"{_BANK}:{bin_}:{account_number}"


def lot_cash(lot_id: object) -> str:
    """Cash an attendant took at a parking lot, not yet banked."""
    return f"{_LOT_CASH}:{lot_id}"


def fee_revenue(fee_code: str) -> str:
    """Default revenue account of an administrative fee."""
    return f"{_FEE_REVENUE}:{fee_code}"


def parking_revenue(lot_id: object) -> str:
    return f"{_PARKING_REVENUE}:{lot_id}"


def subsidy_expense(programme: str) -> str:
    """What the city pays on a payer's behalf under a subsidy programme."""
    return f"{_SUBSIDY_EXPENSE}:{programme}"


def benefit_expense(programme: str) -> str:
    """What the city pays out to beneficiaries under a social-security programme (disbursements)."""
    return f"{_BENEFIT_EXPENSE}:{programme}"


Lang = Literal["vi", "en"]
_FIXED: dict[str, tuple[str, str]] = {
    SUSPENSE: ("Tiền chờ xử lý (treo)", "Suspense"),
    HELD: ("Tiền nộp thiếu đang giữ", "Held underpayments"),
    REFUNDS_DUE: ("Tiền thừa phải hoàn trả", "Refunds due"),
    BANK_CHARGES: ("Phí ngân hàng", "Bank charges"),
    WRITE_OFFS: ("Chênh lệch đối soát đã xóa sổ", "Reconciliation differences written off"),
    OPENING_BALANCES: ("Số dư ban đầu của tài khoản", "Opening balances"),
}


def _bank_name(rest: list[str]) -> tuple[str, str]:
    where = " · ".join(rest)
    return f"Tiền gửi ngân hàng {where}", f"Bank account {where}"


# Parameterised accounts: prefix → (vi, en) built from the remaining segments.
_FAMILIES: dict[str, Callable[[list[str]], tuple[str, str]]] = {
    _BANK: _bank_name,
    _LOT_CASH: lambda r: (f"Tiền mặt tại bãi {':'.join(r)}", f"Cash at lot {':'.join(r)}"),
    _FEE_REVENUE: lambda r: (f"Thu phí, lệ phí {':'.join(r)}", f"Fee revenue {':'.join(r)}"),
    _PARKING_REVENUE: lambda r: (
        f"Thu phí trông giữ xe bãi {':'.join(r)}",
        f"Parking revenue, lot {':'.join(r)}",
    ),
    _SUBSIDY_EXPENSE: lambda r: (f"Chi hỗ trợ chương trình {':'.join(r)}", f"Subsidy expense {':'.join(r)}"),
    _BENEFIT_EXPENSE: lambda r: (
        f"Chi trả an sinh xã hội – chương trình {':'.join(r)}",
        f"Social-security payments, programme {':'.join(r)}",
    ),
}
_TYPES = {
    "asset": ("Tài sản", "Asset"),
    "liability": ("Nợ phải trả", "Liability"),
    "equity": ("Vốn", "Equity"),
    "revenue": ("Doanh thu", "Revenue"),
    "expense": ("Chi phí", "Expense"),
}


def name_of(path: str, lang: str = "vi") -> str:
    """The human name of an account in Vietnamese ("vi") or English (anything else); an account outside the
    chart (older data, a test) is named by its type and path."""
    i = 0 if lang == "vi" else 1
    if path in _FIXED:
        return _FIXED[path][i]
    for prefix, build in _FAMILIES.items():
        if path.startswith(prefix + ":"):
            return build(path[len(prefix) + 1 :].split(":"))[i]
    kind = _TYPES.get(path.split(":", 1)[0], (path, path))[i]
    return f"{kind} {path.split(':', 1)[-1]}"
