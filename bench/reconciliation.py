"""Benchmark: one collection account's day of 1,000,000 MT940 statement lines reconciled against 1,000,000
ledger-side records through the real code (`import_statement_file`, then `match_account_days`), beside a bare
set-based SQL baseline measured in the same run on the same data; then a check that every injected exception
was found, with the right kind, and nothing else.

    .venv/bin/python bench/reconciliation.py                # 1,000,000 lines
    .venv/bin/python bench/reconciliation.py --lines 20000  # smoke

Why MT940: it is the compact statement format banks deliver in bulk (host-to-host, SWIFT FileAct), about
100 bytes a line here against about 1 KB for the same entry in camt.053 as the simulated bank renders it
(1,000,000 lines: ~100 MB against ~1 GB, which no XML parser builds as a tree in seconds), and it carries
everything matching needs: the bank reference (//), the customer reference (end-to-end id), reversals
(RC/RD) and the narrative. The simulated bank's CSV export carries no reversal mark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

# For `common`. Not again in front when a worker process re-runs this module: common puts the project root
# first, and this folder ahead of it would make `reconciliation` this file instead of the package.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PgServer,
    bench_var_dir,
    exit_on_signals,
    machine_info,
    prepare_citypay_database,
    print_table,
    write_results,
)

BIN, ACCOUNT = "970436", "0011001234567"  # the demo collection account (payments.demo.DEMO_COLLECTION)
BANK_CODE = "vcb-sim"
FEE_CODE = "LLTP"
SHARE = 0.015  # of the lines, injected for each kind below
AIM_SECONDS, AIM_RATIO = 15.0, 1.5
# Its own database: other benchmarks drop and recreate the shared default one (citypay_bench) as they start.
DB_NAME = "citypay_bench_recon"
# What each planned line or ledger record is. "exact" is the ordinary case; the others are injected.
INJECTED = (
    "reference",  # the narrative names the request; the credit was booked under another bank reference
    "amount_differs",  # the bank netted a fee off the credit
    "duplicate",  # the same end-to-end transaction credited twice
    "reversal",  # the bank reversed a credit (RC)
    "in_bank_not_ledger",  # money in that the ledger never booked
    "in_ledger_not_bank",  # a booked credit with no statement line
    "amount_date",  # no reference, another bank reference: only amount and date tie it (proposed)
    "one_to_many",  # one debit line = a payout batch of three ledger entries (proposed)
)
FEE_NETTED = 1_100
NARRATIVE_TAIL = " NGUYEN VAN AN CHUYEN TIEN 0912 345 678"  # a phone number: redacted in the stored copy


# The plan: what the statement holds, what the ledger holds, and what matching must conclude -----------------


@dataclass(frozen=True)
class PlannedLine:
    no: int
    kind: str
    bank_ref: str
    e2e: str
    direction: str  # credit | debit
    reversal: bool
    amount: int
    narrative: str
    # What must come out: the line's state, its match (rule, state, ledger record numbers), its exceptions.
    state: str
    rule: str | None = None
    match_state: str | None = None
    ledger_nos: tuple[int, ...] = ()
    exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedRecord:
    """A ledger-side record: a journal entry on the bank account; a booked credit (payments_received) when
    `txn` is set."""

    no: int
    kind: str
    amount: int  # signed, on the bank account (credit to the account > 0)
    txn: str | None = None
    reference: str | None = None
    batch: str | None = None
    exceptions: tuple[str, ...] = ()


@dataclass
class Plan:
    day: date
    lines: list[PlannedLine] = field(default_factory=list)
    records: list[PlannedRecord] = field(default_factory=list)
    opening: int = 10_000_000_000

    @property
    def closing(self) -> int:
        return self.opening + sum(ln.amount if ln.direction == "credit" else -ln.amount for ln in self.lines)

    def injected(self) -> Counter[str]:
        """Injected cases by kind: lines, and the ledger records that have no line."""
        found = Counter(ln.kind for ln in self.lines if ln.kind != "exact")
        found.update(r.kind for r in self.records if r.kind == "in_ledger_not_bank")
        return found


def reference_for(n: int) -> str:
    """A valid payment reference, deterministic in n (prefix CP, 10 base32 symbols, check symbol)."""
    from payments.reference import ALPHABET, check_symbol

    body = "CP"
    for _ in range(10):
        body += ALPHABET[n % 32]
        n //= 32
    return body + check_symbol(body)


def make_plan(lines: int, day: date, *, share: float = SHARE) -> Plan:
    """About `lines` statement lines and as many ledger records, `share` of each injected kind. Amounts of
    whatever can stay unmatched (bank-only lines, ledger-only records, amount+date pairs, batches) are unique
    across all of them, so amount+date and one-to-many can only find the pairs meant."""
    k = max(2, round(lines * share))
    plan = Plan(day)
    rec_no = 0

    def record(**kw: Any) -> int:
        nonlocal rec_no
        rec_no += 1
        plan.records.append(PlannedRecord(no=rec_no, **kw))
        return rec_no

    def line(**kw: Any) -> None:
        plan.lines.append(PlannedLine(no=len(plan.lines) + 1, **kw))

    def ref_text(n: int) -> str:
        return reference_for(n) + NARRATIVE_TAIL

    exact = max(k, lines - 7 * k)  # every injected kind but in_ledger_not_bank is one line
    originals: list[PlannedLine] = []
    for i in range(exact):
        amount = 10_000 + (i * 7919 % 4_990) * 1_000
        txn = f"B{i:010d}"
        r = record(kind="exact", amount=amount, txn=txn, reference=reference_for(i))
        line(
            kind="exact",
            bank_ref=txn,
            e2e=f"E{i}",
            direction="credit",
            reversal=False,
            amount=amount,
            narrative=ref_text(i),
            state="matched",
            rule="bank_txn_id",
            match_state="accepted",
            ledger_nos=(r,),
        )
        originals.append(plan.lines[-1])
    base = exact
    for j in range(k):  # matched by the reference in the narrative
        n = base + j
        amount = 20_000 + j * 1_000
        r = record(kind="reference", amount=amount, txn=f"CB{n:010d}", reference=reference_for(n))
        line(
            kind="reference",
            bank_ref=f"B{n:010d}",
            e2e=f"E{n}",
            direction="credit",
            reversal=False,
            amount=amount,
            narrative=ref_text(n),
            state="matched",
            rule="reference",
            match_state="accepted",
            ledger_nos=(r,),
        )
    base += k
    for j in range(k):  # fee netted
        n = base + j
        amount = 30_000 + j * 1_000
        r = record(
            kind="amount_differs", amount=amount, txn=f"B{n:010d}", reference=reference_for(n), exceptions=()
        )
        line(
            kind="amount_differs",
            bank_ref=f"B{n:010d}",
            e2e=f"E{n}",
            direction="credit",
            reversal=False,
            amount=amount - FEE_NETTED,
            narrative=ref_text(n),
            state="exception",
            rule="bank_txn_id",
            match_state="accepted",
            ledger_nos=(r,),
            exceptions=("amount_differs",),
        )
    base += k
    step = max(1, len(originals) // k)
    for j in range(k):  # the bank credited an exact line's transaction a second time
        o = originals[j * step]
        line(
            kind="duplicate",
            bank_ref=f"D{base + j:010d}",
            e2e=o.e2e,
            direction="credit",
            reversal=False,
            amount=o.amount,
            narrative=o.narrative,
            state="exception",
            exceptions=("duplicate",),
        )
    base += k
    for j in range(k):  # the bank reversed an exact line's credit
        o = originals[j * step + step // 2]
        line(
            kind="reversal",
            bank_ref=o.bank_ref,
            e2e=o.e2e,
            direction="debit",
            reversal=True,
            amount=o.amount,
            narrative="HOAN TRA GIAO DICH " + o.bank_ref,
            state="exception",
            exceptions=("reversal",),
        )
    # Unique amounts: 7,000,000 + 10·j + a digit per kind (never a multiple of 1,000 like the others).
    for j in range(k):
        line(
            kind="in_bank_not_ledger",
            bank_ref=f"X{base + j:010d}",
            e2e=f"X{base + j}",
            direction="credit",
            reversal=False,
            amount=7_000_001 + 10 * j,
            narrative="NOP TIEN MAT TAI QUAY" + NARRATIVE_TAIL,
            state="unmatched",
            exceptions=("in_bank_not_ledger",),
        )
    base += k
    for j in range(k):
        record(
            kind="in_ledger_not_bank",
            amount=7_000_002 + 10 * j,
            txn=f"L{base + j:010d}",
            reference=reference_for(base + j),
            exceptions=("in_ledger_not_bank",),
        )
    base += k
    for j in range(k):
        amount = 7_000_003 + 10 * j
        r = record(
            kind="amount_date", amount=amount, txn=f"CA{base + j:010d}", reference=reference_for(base + j)
        )
        line(
            kind="amount_date",
            bank_ref=f"A{base + j:010d}",
            e2e=f"A{base + j}",
            direction="credit",
            reversal=False,
            amount=amount,
            narrative="CHUYEN KHOAN" + NARRATIVE_TAIL,
            state="proposed",
            rule="amount_date",
            match_state="proposed",
            ledger_nos=(r,),
            exceptions=("in_bank_not_ledger",),
        )
    base += k
    for j in range(k):
        parts = [8_000_004 + 30 * j, 8_000_015 + 30 * j, 8_000_026 + 30 * j]
        batch = f"PB{base + j}"
        nos = tuple(record(kind="one_to_many", amount=-p, batch=batch) for p in parts)
        line(
            kind="one_to_many",
            bank_ref=f"P{base + j:010d}",
            e2e=batch,
            direction="debit",
            reversal=False,
            amount=sum(parts),
            narrative="CHI LO " + batch,
            state="proposed",
            rule="one_to_many",
            match_state="proposed",
            ledger_nos=nos,
            exceptions=("in_bank_not_ledger",),
        )
    return plan


def render_mt940(plan: Plan) -> bytes:
    """The statement as the bank sends it: one :20: block, a :61:/:86: pair per line."""
    d = plan.day
    yymmdd, mmdd = f"{d:%y%m%d}", f"{d:%m%d}"
    out = [
        f":20:STMT{yymmdd}",
        f":25:{ACCOUNT}",
        f":28C:{d.timetuple().tm_yday}/1",
        f":60F:C{yymmdd}VND{plan.opening},",
    ]
    marks = {("credit", False): "C", ("debit", False): "D", ("debit", True): "RC", ("credit", True): "RD"}
    for ln in plan.lines:
        out.append(
            f":61:{yymmdd}{mmdd}{marks[ln.direction, ln.reversal]}{ln.amount},NTRF{ln.e2e}//{ln.bank_ref}\n"
            f":86:{ln.narrative}"
        )
    closing = plan.closing
    out.append(f":62F:{'C' if closing >= 0 else 'D'}{yymmdd}VND{abs(closing)},")
    out.append("-")
    return ("\n".join(out) + "\n").encode()


# Setup: the ledger side, set-based --------------------------------------------------------------------------


async def load_ledger(conn: Any, keys: Any, plan: Plan) -> None:
    """Journal entries, their two postings and (for credits) the booked credit, from the plan COPYed into a
    temporary table and INSERT … SELECT. As the owner with triggers off for speed (the rows are what
    `post_entry` and settlement would write); the balance is checked afterwards instead."""
    from core.pii import encrypt_pii
    from ledger.accounts import REFUNDS_DUE, bank_account, fee_revenue

    bank, revenue = bank_account(BIN, ACCOUNT), fee_revenue(FEE_CODE)
    narrative = encrypt_pii(keys, "CHUYEN TIEN", context="payments_received.narrative")
    await conn.execute(
        """CREATE TEMP TABLE bench_records (no int, kind text, amount bigint, txn text, reference text,
                                            batch text)"""
    )
    await conn.copy_records_to_table(
        "bench_records",
        records=[(r.no, r.kind, r.amount, r.txn, r.reference, r.batch) for r in plan.records],
    )
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "INSERT INTO ledger_accounts (path) VALUES ($1), ($2), ($3) ON CONFLICT DO NOTHING",
            bank,
            revenue,
            REFUNDS_DUE,
        )
        await conn.execute(
            """INSERT INTO journal_entries (idempotency_key, kind, business_date, refs, content_hash, memo)
               SELECT 'bench:' || no, CASE WHEN txn IS NULL THEN 'payout.sent' ELSE 'credit.settled' END, $1,
                      CASE WHEN batch IS NULL THEN jsonb_build_object('bank_txn_id', txn)
                           ELSE jsonb_build_object('batch_id', batch) END,
                      md5(no::text), 'bench'
                 FROM bench_records ORDER BY no""",
            plan.day,
        )
        await conn.execute(
            """CREATE TEMP TABLE bench_entries AS
               SELECT r.*, e.id AS entry_id FROM bench_records r
                 JOIN journal_entries e ON e.idempotency_key = 'bench:' || r.no"""
        )
        await conn.execute(
            """INSERT INTO postings (entry_id, account_id, amount, business_date)
               SELECT b.entry_id, a.id, CASE WHEN a.path = $2 THEN b.amount ELSE -b.amount END, $1
                 FROM bench_entries b
                 JOIN ledger_accounts a ON a.path = $2 OR a.path = CASE WHEN b.txn IS NULL THEN $4 ELSE $3 END
                ORDER BY b.entry_id""",
            plan.day,
            bank,
            revenue,
            REFUNDS_DUE,
        )
        await conn.execute(
            """INSERT INTO payments_received (bank_code, bank_txn_id, amount, credited_bin, credited_account,
                   narrative, booked_at, reference, outcome, entry_id)
               SELECT $1, txn, amount, $2, $3, $4, ($5::date + time '10:00') AT TIME ZONE 'Asia/Ho_Chi_Minh',
                      reference, 'settled', entry_id
                 FROM bench_entries WHERE txn IS NOT NULL ORDER BY no""",
            BANK_CODE,
            BIN,
            ACCOUNT,
            narrative,
            plan.day,
        )
    unbalanced = await conn.fetchval(
        """SELECT count(*) FROM (SELECT p.entry_id FROM postings p JOIN bench_entries b USING (entry_id)
                                 GROUP BY p.entry_id HAVING sum(p.amount) <> 0 OR count(*) <> 2) x"""
    )
    if unbalanced:
        raise RuntimeError(f"setup: {unbalanced} unbalanced bench entries")
    await conn.execute("VACUUM (ANALYZE) journal_entries, postings, payments_received, ledger_accounts")


# The timed run, through the real code -----------------------------------------------------------------------


class PhaseClock:
    """Wraps module functions to add up the time spent in them (the code under test is not changed)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.functions: defaultdict[str, float] = defaultdict(
            float
        )  # the same time by function, to see where it goes
        self._undo: list[Callable[[], None]] = []

    def wrap(self, module: Any, name: str, phase: str) -> None:
        original = getattr(module, name)
        if asyncio.iscoroutinefunction(original):

            async def timed_async(*a: Any, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await original(*a, **kw)
                finally:
                    self.seconds[phase] += time.perf_counter() - t
                    self.functions[name] += time.perf_counter() - t

            setattr(module, name, timed_async)
        else:

            def timed(*a: Any, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return original(*a, **kw)
                finally:
                    self.seconds[phase] += time.perf_counter() - t
                    self.functions[name] += time.perf_counter() - t

            setattr(module, name, timed)
        self._undo.append(lambda: setattr(module, name, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


async def reconcile(dsn: str, keys: Any, data: bytes, plan: Plan) -> dict[str, Any]:
    """import_statement_file (parse, integrity, redact + encrypt, COPY, INSERT) then match_account_days
    (passes a–d, then classification), timed by phase."""
    from core.db import create_pool
    from reconciliation import importer, matching

    clock = PhaseClock()
    clock.wrap(importer, "read_statements", "parse")
    clock.wrap(importer, "_line_records", "redact_encrypt")
    for name in ("_accept_by_credit", "_by_reference", "_propose_amount_date", "_propose_one_to_many"):
        clock.wrap(matching, name, "match")
    for name in ("_bank_side_exceptions", "_remaining_exceptions", "_resolve_matched"):
        clock.wrap(matching, name, "classify")
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        t0 = time.perf_counter()
        result = await importer.import_statement_file(
            pool, keys, data, filename="bench.sta", source="cli", actor="bench:reconciliation"
        )
        t1 = time.perf_counter()
        async with pool.acquire() as conn:
            report = await matching.match_account_days(conn, BIN, ACCOUNT, plan.day, keys=keys)
        t2 = time.perf_counter()
    finally:
        clock.restore()
        await pool.close()
    if result.new_lines != len(plan.lines):
        raise RuntimeError(f"imported {result.new_lines} lines, planned {len(plan.lines)}")
    s = clock.seconds
    return {
        "parse": s["parse"],
        "load": (t1 - t0) - s["parse"],  # integrity, redact + encrypt, COPY, INSERT … ON CONFLICT, audit
        "redact_encrypt": s["redact_encrypt"],  # part of load
        "match": s["match"],
        "classify": s["classify"],
        "match_other": (t2 - t1) - s["match"] - s["classify"],  # locks, conflicts lookup
        "import_total": t1 - t0,
        "match_total": t2 - t1,
        "total": t2 - t0,
        "functions": {k: round(v, 3) for k, v in clock.functions.items()},
        "report": {
            "matched": dict(report.matched),
            "proposed": dict(report.proposed),
            "exceptions": dict(report.exceptions),
        },
    }


async def baseline(conn: Any, plan: Plan) -> dict[str, float]:
    """The same lines and ledger rows COPYed into two plain tables, one exact-match join on the bank
    reference, and the two anti-joins (in bank not in ledger, in ledger not in bank)."""
    lines = [
        (ln.bank_ref, ln.e2e, plan.day, ln.direction, ln.amount, ln.reversal, ln.narrative)
        for ln in plan.lines
    ]
    rows = [
        tuple(r)
        for r in await conn.fetch(
            "SELECT bank_txn_id, amount, entry_id FROM payments_received WHERE credited_account = $1", ACCOUNT
        )
    ]
    await conn.execute(
        """DROP TABLE IF EXISTS bl_lines, bl_ledger, bl_matched, bl_bank_only, bl_ledger_only;
           CREATE UNLOGGED TABLE bl_lines (bank_ref text, e2e text, booking_date date, direction text,
                                           amount bigint, reversal boolean, narrative text);
           CREATE UNLOGGED TABLE bl_ledger (bank_txn_id text, amount bigint, entry_id bigint)"""
    )
    t0 = time.perf_counter()
    await conn.copy_records_to_table("bl_lines", records=lines)
    await conn.copy_records_to_table("bl_ledger", records=rows)
    t1 = time.perf_counter()
    await conn.execute(
        """CREATE UNLOGGED TABLE bl_matched AS
               SELECT l.bank_ref, c.entry_id, l.amount - c.amount AS difference
                 FROM bl_lines l JOIN bl_ledger c ON c.bank_txn_id = l.bank_ref
                WHERE l.direction = 'credit' AND NOT l.reversal;
           CREATE UNLOGGED TABLE bl_bank_only AS
               SELECT l.* FROM bl_lines l
                WHERE NOT EXISTS (SELECT 1 FROM bl_ledger c WHERE c.bank_txn_id = l.bank_ref);
           CREATE UNLOGGED TABLE bl_ledger_only AS
               SELECT c.* FROM bl_ledger c
                WHERE NOT EXISTS (SELECT 1 FROM bl_lines l WHERE l.bank_ref = c.bank_txn_id)"""
    )
    t2 = time.perf_counter()
    await conn.execute("DROP TABLE bl_lines, bl_ledger, bl_matched, bl_bank_only, bl_ledger_only")
    return {"copy": t1 - t0, "join": t2 - t1, "total": t2 - t0}


# The check --------------------------------------------------------------------------------------------------


async def check_outcome(conn: Any, plan: Plan) -> dict[str, Any]:
    """Every planned line and ledger record against what the database now says, set-based: the line's
    state, its accepted/proposed match (rule and the exact entries), its exceptions; each record's
    exceptions. Returns the mismatches by kind (none: ok) and the exceptions found by kind."""
    await conn.execute(
        """DROP TABLE IF EXISTS bench_expect_lines, bench_expect_records;
           CREATE TEMP TABLE bench_expect_lines (bank_ref text, direction text, reversal boolean, kind text,
               state text, rule text, match_state text, ledger_keys text[], exceptions text[]);
           CREATE TEMP TABLE bench_expect_records (key text, kind text, exceptions text[])"""
    )
    await conn.copy_records_to_table(
        "bench_expect_lines",
        records=[
            (
                ln.bank_ref,
                ln.direction,
                ln.reversal,
                ln.kind,
                ln.state,
                ln.rule,
                ln.match_state,
                sorted(f"bench:{n}" for n in ln.ledger_nos),
                sorted(ln.exceptions),
            )
            for ln in plan.lines
        ],
    )
    await conn.copy_records_to_table(
        "bench_expect_records",
        records=[(f"bench:{r.no}", r.kind, sorted(r.exceptions)) for r in plan.records],
    )
    line_rows = await conn.fetch(
        """WITH mk AS (  -- set-based: one pass over the matches and exceptions, never a subquery per line
               SELECT m.line_id, count(DISTINCT m.id) AS matches, min(m.rule) AS rule,
                      min(m.state) AS match_state,
                      array_agg(e.idempotency_key ORDER BY e.idempotency_key) AS ledger_keys
                 FROM recon_matches m CROSS JOIN LATERAL unnest(m.entry_ids) AS u(id)
                 JOIN journal_entries e ON e.id = u.id
                WHERE m.state IN ('accepted', 'proposed') GROUP BY m.line_id),
           ex AS (
               SELECT line_id, array_agg(kind ORDER BY kind) AS exceptions
                 FROM recon_exceptions WHERE line_id IS NOT NULL GROUP BY line_id),
           actual AS (
               SELECT l.bank_ref, l.direction, l.reversal, l.state, mk.rule, mk.match_state, mk.ledger_keys,
                      ex.exceptions, coalesce(mk.matches, 0) AS matches
                 FROM recon_lines l
                 LEFT JOIN mk ON mk.line_id = l.id
                 LEFT JOIN ex ON ex.line_id = l.id
                WHERE l.bin = $1 AND l.account_number = $2 AND l.booking_date = $3)
           SELECT coalesce(x.kind, 'unplanned line') AS kind, count(*) AS n,
                  (array_agg(coalesce(x.bank_ref, a.bank_ref) || ': expected ' ||
                             concat_ws(' ', x.state, x.rule, x.match_state, x.ledger_keys::text,
                                       x.exceptions::text)
                             || '; found ' ||
                             concat_ws(' ', a.state, a.rule, a.match_state, a.ledger_keys::text,
                                       a.exceptions::text)))[1:3]
                      AS samples
             FROM bench_expect_lines x
             FULL JOIN actual a ON a.bank_ref = x.bank_ref AND a.direction = x.direction
                               AND a.reversal = x.reversal
            WHERE x.bank_ref IS NULL OR a.bank_ref IS NULL OR a.matches > 1
               OR a.state IS DISTINCT FROM x.state OR a.rule IS DISTINCT FROM x.rule
               OR a.match_state IS DISTINCT FROM x.match_state
               OR coalesce(a.ledger_keys, '{}') IS DISTINCT FROM x.ledger_keys
               OR coalesce(a.exceptions, '{}') IS DISTINCT FROM x.exceptions
            GROUP BY 1""",
        BIN,
        ACCOUNT,
        plan.day,
    )
    record_rows = await conn.fetch(
        """WITH ex AS (
               SELECT entry_id, array_agg(kind ORDER BY kind) AS exceptions
                 FROM recon_exceptions WHERE line_id IS NULL GROUP BY entry_id),
           actual AS (
               SELECT e.idempotency_key AS key, coalesce(ex.exceptions, '{}') AS exceptions
                 FROM journal_entries e LEFT JOIN ex ON ex.entry_id = e.id
                WHERE e.idempotency_key LIKE 'bench:%')
           SELECT x.kind, count(*) AS n,
                  (array_agg(x.key || ': expected ' || x.exceptions::text || ', found '
                             || coalesce(a.exceptions::text, 'no entry')))[1:3] AS samples
             FROM bench_expect_records x LEFT JOIN actual a ON a.key = x.key
            WHERE a.key IS NULL OR a.exceptions IS DISTINCT FROM x.exceptions
            GROUP BY 1""",
    )
    stray = await conn.fetchval(
        """SELECT count(*) FROM recon_exceptions x
            WHERE x.line_id IS NULL AND NOT EXISTS (
                  SELECT 1 FROM journal_entries e
                   WHERE e.id = x.entry_id AND e.idempotency_key LIKE 'bench:%')"""
    )
    found = {
        r["kind"]: r["n"]
        for r in await conn.fetch("SELECT kind, count(*) AS n FROM recon_exceptions GROUP BY kind")
    }
    mismatches = {r["kind"]: {"count": r["n"], "samples": list(r["samples"])} for r in line_rows}
    for r in record_rows:
        mismatches[f"ledger {r['kind']}"] = {"count": r["n"], "samples": list(r["samples"])}
    if stray:
        mismatches["exceptions on entries outside the plan"] = {"count": stray, "samples": []}
    return {
        "ok": not mismatches,
        "mismatches": mismatches,
        "exceptions_found": found,
        "injected": dict(plan.injected()),
    }


# Main -------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/reconciliation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="statement lines (default 1,000,000)")
    p.add_argument("--share", type=float, default=SHARE, help="share of lines per injected kind (0.015)")
    p.add_argument("--keep-db", action="store_true", help="keep the citypay_bench database afterwards")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    from core.db import connect
    from core.keys import parse_env_keys
    from core.money import LOCAL_TZ

    server = PgServer.resolve()
    with bench_var_dir() as var_dir:
        t = time.perf_counter()
        db = await prepare_citypay_database(server, var_dir, name=DB_NAME, scopes=["payment-requests:read"])
        keys = parse_env_keys(db.keys_env)
        day = datetime.now(LOCAL_TZ).date() - timedelta(days=1)
        plan = make_plan(args.lines, day, share=args.share)
        data = render_mt940(plan)
        conn = await connect(db.dsn)
        try:
            await load_ledger(conn, keys, plan)
        finally:
            await conn.close()
        setup_s = time.perf_counter() - t
        print(
            f"setup: {len(plan.lines):,} lines ({len(data) / 1e6:,.0f} MB MT940), {len(plan.records):,} "
            f"ledger records, injected {dict(plan.injected())}; {setup_s:.1f} s",
            flush=True,
        )
        await server.checkpoint()
        timed = await reconcile(db.dsn, keys, data, plan)
        conn = await connect(db.dsn)
        try:
            base = await baseline(conn, plan)
            print(f"timed: {timed}\nbaseline: {base}", flush=True)
            check = await check_outcome(conn, plan)
        finally:
            await conn.close()
        if not args.keep_db:
            await server.drop(db.name)
    return report(args, plan, data, timed, base, check, setup_s)


def report(
    args: argparse.Namespace, plan: Plan, data: bytes, timed: dict, base: dict, check: dict, setup_s: float
) -> int:
    n = len(plan.lines)
    rows = [
        ["parse (MT940 → lines)", timed["parse"]],
        ["load (integrity, redact + encrypt, COPY, INSERT)", timed["load"]],
        ["  of which redact + encrypt", timed["redact_encrypt"]],
        ["match (passes a–d)", timed["match"]],
        ["classify (exceptions)", timed["classify"]],
        ["other (locks, conflicts lookup)", timed["match_other"]],
        ["total", timed["total"]],
        ["baseline: COPY both sides", base["copy"]],
        ["baseline: join + 2 anti-joins", base["join"]],
        ["baseline total", base["total"]],
    ]
    print_table(
        f"Reconciliation of {n:,} lines against {len(plan.records):,} ledger records (seconds)",
        ["phase", "s"],
        [[a, round(b, 3)] for a, b in rows],
    )
    ratio = timed["total"] / base["total"] if base["total"] else float("nan")
    aims = {
        f"total ≤ {AIM_SECONDS:g} s": timed["total"] <= AIM_SECONDS,
        f"total ≤ {AIM_RATIO:g} × baseline": ratio <= AIM_RATIO,
        "every injected exception found, nothing else": check["ok"],
    }
    print(f"\nratio total / baseline: {ratio:.2f}")
    print(f"by function (s): {timed['functions']}")
    print(f"matching report: {timed['report']}")
    print(f"injected: {check['injected']}")
    print(f"exceptions found: {check['exceptions_found']}")
    for kind, m in check["mismatches"].items():
        print(f"  MISMATCH {kind}: {m['count']:,}  e.g. {m['samples']}")
    print("Aims")
    for k, v in aims.items():
        print(f"  {k}: {'met' if v else 'NOT met'}")
    write_results(
        "reconciliation",
        {
            "lines": n,
            "records": len(plan.records),
            "file_bytes": len(data),
            "setup_s": setup_s,
            "timed": timed,
            "baseline": base,
            "ratio": ratio,
            "aims": aims,
            "check": check,
            "machine": machine_info(),
        },
    )
    return 0 if check["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with exit_on_signals():
        return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
