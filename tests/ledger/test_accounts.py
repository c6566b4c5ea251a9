"""The chart of accounts: every account the service books is built in ledger/accounts.py and has a name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ledger import accounts

ROOT = Path(__file__).resolve().parents[2]
PATH_IN_TEXT = re.compile(r"\b(asset|liability|equity|revenue|expense):")
CHART = [
    accounts.bank_account("970436", "0011001234567"),
    accounts.SUSPENSE,
    accounts.HELD,
    accounts.REFUNDS_DUE,
    accounts.fee_revenue("LLTP"),
    accounts.parking_revenue(7),
    accounts.subsidy_expense("vneid"),
    accounts.lot_cash(7),
]


def test_builders_spell_the_paths_the_ledger_has_always_booked():
    assert CHART == [
        "asset:bank:970436:0011001234567",
        "liability:suspense",
        "liability:held",
        "liability:refunds",
        "revenue:fee:LLTP",
        "revenue:parking:7",
        "expense:subsidy:vneid",
        "asset:cash:lot:7",
    ]
    assert all(accounts.ACCOUNT_PATH.match(path) for path in CHART)
    assert re.match(accounts.FEE_REVENUE_PATTERN, accounts.fee_revenue("GPLX-DOI"))


@pytest.mark.parametrize("path", CHART)
def test_every_account_has_a_vietnamese_and_an_english_name(path):
    vi, en = accounts.name_of(path, "vi"), accounts.name_of(path, "en")
    assert vi and en and vi != en
    assert path not in (vi, en)


def test_names_say_which_bank_lot_fee_or_programme():
    assert accounts.name_of(accounts.bank_account("970436", "001"), "en") == "Bank account 970436 · 001"
    assert accounts.name_of(accounts.parking_revenue(3), "vi") == "Thu phí trông giữ xe bãi 3"
    assert accounts.name_of(accounts.subsidy_expense("vneid"), "en") == "Subsidy expense vneid"
    assert accounts.name_of(accounts.SUSPENSE, "vi") == "Tiền chờ xử lý (treo)"
    assert accounts.name_of("equity:opening", "en") == "Equity opening"  # outside the chart: still readable


def _string_constants(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_account_path_is_spelled_outside_the_chart():
    chart = ROOT / "ledger" / "accounts.py"
    sources = [ROOT / "main.py"]
    for package in ("core", "ledger", "payments", "parking", "banksim", "bench"):
        sources += sorted((ROOT / package).rglob("*.py"))
    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for path in sources
        if path != chart
        for line, text in _string_constants(ast.parse(path.read_text(encoding="utf-8")))
        if PATH_IN_TEXT.search(text)
    ]
    assert spelled == []


def test_ledger_imports_nothing_above_core():
    above = {"payments", "parking", "banksim", "reconciliation", "disbursements", "main"}
    found = []
    for path in sorted((ROOT / "ledger").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in above]
    assert found == []
