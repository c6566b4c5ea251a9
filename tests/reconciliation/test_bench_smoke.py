"""The reconciliation benchmark's generator and checker at 5,000 lines (bench/reconciliation.py; no timing):
the plan's MT940 statement goes through the real import and matching, and the checker finds every injected
case — and fails when an outcome is missing or changed, so the benchmark's verdict can be trusted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from core.db import connect
from reconciliation.parsers import parse_statement
from tests.reconciliation.conftest import yesterday

_BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(_BENCH))  # for its `common`; appended, so it shadows no package
# Loaded under another name: bench/reconciliation.py would otherwise be the `reconciliation` package.
_spec = importlib.util.spec_from_file_location("bench_reconciliation", _BENCH / "reconciliation.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_reconciliation"] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)

LINES = 5_000


def test_plan_and_statement_agree():
    plan = bench.make_plan(LINES, yesterday())
    assert len(plan.lines) == LINES
    assert set(plan.injected()) == set(bench.INJECTED)
    assert all(n == round(LINES * 0.015) for n in plan.injected().values())
    [statement] = parse_statement(bench.render_mt940(plan), filename="bench.sta")
    assert statement.closing_balance == plan.closing
    assert [(x.bank_ref, x.amount, x.direction, x.reversal) for x in statement.lines] == [
        (x.bank_ref, x.amount, x.direction, x.reversal) for x in plan.lines
    ]


@pytest.mark.usefixtures("catalogue")
async def test_every_injected_case_is_found_and_a_changed_outcome_is_reported(db_url, keys):
    plan = bench.make_plan(LINES, yesterday())
    conn = await connect(db_url)
    try:
        await bench.load_ledger(conn, keys, plan)
        timed = await bench.reconcile(db_url, keys, bench.render_mt940(plan), plan)
        check = await bench.check_outcome(conn, plan)
        assert check["ok"], check["mismatches"]
        k = round(LINES * 0.015)
        # proposed lines are "in bank, not in ledger" until a person accepts them (matching's rule)
        assert check["exceptions_found"] == {
            "amount_differs": k,
            "duplicate": k,
            "reversal": k,
            "in_bank_not_ledger": 3 * k,
            "in_ledger_not_bank": k,
        }
        assert timed["report"]["proposed"] == {"amount_date": k, "one_to_many": k}

        # The checker is not a rubber stamp: a missed exception and a wrong state are both reported.
        await conn.execute(
            """DELETE FROM recon_exceptions WHERE id = (SELECT min(id) FROM recon_exceptions
                                                        WHERE kind = 'duplicate')"""
        )
        await conn.execute(
            """UPDATE recon_lines SET state = 'matched'
                WHERE id = (SELECT min(id) FROM recon_lines WHERE state = 'unmatched')"""
        )
        broken = await bench.check_outcome(conn, plan)
        assert not broken["ok"]
        assert broken["mismatches"]["duplicate"]["count"] == 1
        assert broken["mismatches"]["in_bank_not_ledger"]["count"] == 1
    finally:
        await conn.close()
