"""Matching a bank account's statement lines against what the ledger and the callbacks say, strict to loose,
each pass only over the lines the earlier passes left (`recon_lines.state = 'unmatched'`), all set-based:

a. the bank's reference = a booked credit's bank transaction id on the same account → accepted (a different
   amount: accepted with an `amount_differs` exception for the difference);
b. the narrative names a payment request: a booked credit of it not yet matched → accepted (or amount
   differs); none → the callback was lost: settled through payments' own settlement (the one per-line call),
   then matched;
c. amount and date window ↔ an unmatched bank posting → *proposed* for a person;
d. one bank line = the sum of several unmatched postings of the same day and direction (a batch, or all of a
   kind) → proposed.

Then the exceptions are classified (INSERT … ON CONFLICT DO NOTHING, so a re-run adds none twice): reversal,
duplicate, in bank not in ledger, in ledger not in bank, callback conflicts; exceptions whose line or entry
has since been matched are resolved. Reads payments and ledger data only through their published views and
public functions.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import asyncpg

from core.keys import AppKeys
from core.pii import PIIError, decrypt_pii
from ledger.accounts import bank_account
from payments import find_reference_in_narrative, open_callback_issues, settle_statement_credit
from reconciliation.claims import Scope, accept_by_entry_ref, run_claimants

SYSTEM_ACTOR = "system:matching"
# The importer encrypts each line's narrative under this context (the table's column, as payments does).
LINE_NARRATIVE_CONTEXT = "recon_lines.narrative"
# Entries reconciliation posts itself (corrections) have no bank line by design.
OWN_ENTRY_KINDS = "recon.%"

WORK_MEM = "256MB"  # per sort or hash of the matching transaction (SET LOCAL)
_SIGNED = "CASE WHEN l.direction = 'credit' THEN l.amount ELSE -l.amount END"
_LINES_IN_SCOPE = "l.bin = $1 AND l.account_number = $2 AND l.booking_date BETWEEN $3 AND $4"


def _unclaimed(entry: str, states: str) -> str:
    """`entry` is in no match of `states`. Written as an anti-join against the matches' entries unnested, so
    PostgreSQL hashes them once: `entry_ids @> ARRAY[…]` per row was a scan of recon_matches per posting
    (the GIN index is partial, on accepted matches only) — minutes for 20,000 lines."""
    return f"""NOT EXISTS (SELECT 1 FROM recon_matches m CROSS JOIN LATERAL unnest(m.entry_ids) AS claimed(id)
                            WHERE m.state IN ({states}) AND claimed.id = {entry})"""


_ENTRY_FREE = _unclaimed("p.entry_id", "'accepted', 'proposed'")


@dataclass
class MatchReport:
    matched: Counter[str] = field(default_factory=Counter)  # rule → lines matched (accepted)
    proposed: Counter[str] = field(default_factory=Counter)  # rule → lines proposed to a person
    settled: int = 0  # lost callbacks settled from the statement
    exceptions: Counter[str] = field(default_factory=Counter)  # kind → new exceptions
    resolved: int = 0  # exceptions resolved because their line or entry is now matched


async def _set_based(conn: asyncpg.Connection) -> None:
    """Hash joins for the rest of this transaction. The passes join a statement's lines (up to a million)
    with the ledger's; right after an import `recon_lines` has no statistics yet (the service role may not
    ANALYZE it, and autovacuum comes later), so the planner guesses one line and picks nested loops — a
    scan of the credits per line, minutes for 20,000 lines. A nested loop is never the right plan for
    these set-based passes; SET LOCAL ends with the transaction."""
    await conn.execute("SET LOCAL enable_nestloop = off")
    # Hashes and sorts of a million lines in memory, not in temporary files (the default is 4 MB).
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


def _count(status: str) -> int:
    """The row count of an asyncpg command status ("UPDATE 3", "INSERT 0 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def _accept_by_credit(
    conn: asyncpg.Connection, scope: tuple, rule: str, line_ids: list[int] | None
) -> tuple[int, int]:
    """Pass a (and the match step of b): lines whose bank reference is a booked credit's transaction id on the
    same account. Returns (matched, amount differs)."""
    row = await conn.fetchrow(
        f"""WITH cand AS (
                SELECT DISTINCT ON (l.id) l.id AS line_id, l.booking_date, l.amount AS line_amount,
                       c.amount AS credit_amount, c.entry_id
                  FROM recon_lines l
                  JOIN payments_bank_credits c ON c.bank_txn_id = l.bank_ref AND c.credited_bin = l.bin
                                              AND c.credited_account = l.account_number
                 WHERE {_LINES_IN_SCOPE} AND l.state = 'unmatched' AND l.direction = 'credit'
                   AND NOT l.reversal
                   AND ($6::bigint[] IS NULL OR l.id = ANY($6))
                   AND {_unclaimed("c.entry_id", "'accepted'")}
                 ORDER BY l.id, c.payment_id),
            matched AS (
                INSERT INTO recon_matches (line_id, rule, entry_ids, state, decided_by, decided_at)
                SELECT line_id, $5, ARRAY[entry_id], 'accepted', '{SYSTEM_ACTOR}', now() FROM cand
                RETURNING line_id),
            differs AS (
                INSERT INTO recon_exceptions
                       (kind, bin, account_number, business_date, line_id, entry_id, amount)
                SELECT 'amount_differs', $1, $2, booking_date, line_id, entry_id, line_amount - credit_amount
                  FROM cand WHERE line_amount <> credit_amount
                ON CONFLICT DO NOTHING RETURNING line_id),
            updated AS (
                UPDATE recon_lines l
                   SET state = CASE WHEN c.line_amount = c.credit_amount THEN 'matched' ELSE 'exception' END
                  FROM cand c WHERE l.id = c.line_id
                RETURNING l.state)
            -- counted here: a million lines' states need not travel to be counted
            SELECT count(*) FILTER (WHERE state = 'matched') AS matched,
                   count(*) FILTER (WHERE state = 'exception') AS differs
              FROM updated""",
        *scope,
        rule,
        line_ids,
    )
    return row["matched"], row["differs"]


def _clear_narrative(keys: AppKeys, row: asyncpg.Record) -> str:
    """The bank's own text when it decrypts (a reference split by spaces survives only there), else the
    redacted copy (which keeps references whole)."""
    try:
        return decrypt_pii(keys, row["narrative_encrypted"], context=LINE_NARRATIVE_CONTEXT)
    except (PIIError, ValueError):
        return str(row["narrative"])


async def _by_reference(
    conn: asyncpg.Connection,
    scope: tuple,
    keys: AppKeys,
    report: MatchReport,
    *,
    now: datetime | None,
    sanity_cap: int | None,
    late_tolerance: timedelta | None,
) -> None:
    """Pass b. The candidates are chosen in one query; finding the reference is a pure function; a booked
    credit of that request not yet matched is matched set-based; only a lost callback is settled line by line,
    through payments' settlement and its own transaction rules."""
    async with conn.transaction():
        await _set_based(conn)
        candidates = await conn.fetch(
            f"""SELECT l.id, l.bank_ref, l.amount, l.booking_date, l.narrative, l.narrative_encrypted
              FROM recon_lines l
             WHERE {_LINES_IN_SCOPE} AND l.state = 'unmatched' AND l.direction = 'credit' AND NOT l.reversal
               AND NOT EXISTS (SELECT 1 FROM payments_bank_credits c
                                WHERE c.bank_txn_id = l.bank_ref AND c.credited_bin = l.bin
                                  AND c.credited_account = l.account_number)
             ORDER BY l.id""",
            *scope,
        )
    found: dict[int, tuple[str, asyncpg.Record, str]] = {}
    for row in candidates:
        text = _clear_narrative(keys, row)
        reference = find_reference_in_narrative(text)
        if reference:
            found[row["id"]] = (reference, row, text)
    if not found:
        return
    ids = list(found)
    # A booked credit of the named request on this account that no bank line has claimed: the same money
    # under another bank reference — matched (amount differs: an exception), never settled a second time.
    async with conn.transaction():
        await _set_based(conn)
        rows = await conn.fetch(
            f"""WITH c AS (SELECT * FROM unnest($3::bigint[], $4::text[]) AS t(line_id, reference)),
                    cand AS (
                        SELECT DISTINCT ON (c.line_id) c.line_id, l.booking_date, l.amount AS line_amount,
                               cr.amount AS credit_amount, cr.entry_id
                          FROM c JOIN recon_lines l ON l.id = c.line_id
                          JOIN payments_bank_credits cr ON cr.reference = c.reference AND cr.credited_bin = $1
                                                       AND cr.credited_account = $2
                         WHERE {_unclaimed("cr.entry_id", "'accepted', 'proposed'")}
                         ORDER BY c.line_id, (cr.amount = l.amount) DESC, cr.payment_id),
                    matched AS (
                        INSERT INTO recon_matches (line_id, rule, entry_ids, state, decided_by, decided_at)
                        SELECT line_id, 'reference', ARRAY[entry_id], 'accepted', $5, now() FROM cand
                        RETURNING line_id),
                    differs AS (
                        INSERT INTO recon_exceptions
                               (kind, bin, account_number, business_date, line_id, entry_id, amount)
                        SELECT 'amount_differs', $1, $2, booking_date, line_id, entry_id,
                               line_amount - credit_amount
                          FROM cand WHERE line_amount <> credit_amount
                        ON CONFLICT DO NOTHING RETURNING line_id)
               UPDATE recon_lines l
                  SET state = CASE WHEN c.line_amount = c.credit_amount THEN 'matched' ELSE 'exception' END
                 FROM cand c WHERE l.id = c.line_id
               RETURNING l.id, l.state""",
            scope[0],
            scope[1],
            ids,
            [found[i][0] for i in ids],
            SYSTEM_ACTOR,
        )
    for r in rows:
        found.pop(r["id"])
        if r["state"] == "matched":
            report.matched["reference"] += 1
        else:
            report.exceptions["amount_differs"] += 1
    # Settlement finds the same reference in the same text and settles nothing when no request has it: ask
    # once, set-based, which of them name a request (tens of thousands of round trips on a large statement).
    issued = {
        r["reference"]
        for r in await conn.fetch(
            "SELECT reference FROM payments_request_references WHERE reference = ANY($1::text[])",
            list({reference for reference, _row, _text in found.values()}),
        )
    }
    settled: list[int] = []
    for line_id, (reference, row, text) in found.items():
        if reference not in issued:
            continue
        extra = {} if late_tolerance is None else {"late_tolerance": late_tolerance}
        async with conn.transaction():
            settlement = await settle_statement_credit(
                conn,
                keys,
                credited_bin=scope[0],
                credited_account=scope[1],
                bank_ref=row["bank_ref"],
                amount=row["amount"],
                booked_on=row["booking_date"],
                narrative=text,
                now=now,
                sanity_cap=sanity_cap,
                **extra,
            )
        if settlement is not None:
            settled.append(line_id)
            report.settled += int(not settlement.duplicate)
    if settled:
        # The settled credit carries the line's bank reference as its transaction id: matched as in pass a.
        async with conn.transaction():
            await _set_based(conn)
            matched, differs = await _accept_by_credit(conn, scope, "reference", settled)
        report.matched["reference"] += matched
        report.exceptions["amount_differs"] += differs


async def _bank_side_exceptions(conn: asyncpg.Connection, scope: tuple, report: MatchReport) -> None:
    """Reversals (the reversing line, and the line it reverses when that is not matched) and duplicates
    (the same end-to-end transaction credited twice): facts of the statement, classified before the loose
    passes can propose them."""
    rows = await conn.fetch(
        f"""WITH rev AS (
                SELECT l.id AS line_id, l.booking_date, {_SIGNED} AS signed
                  FROM recon_lines l WHERE {_LINES_IN_SCOPE} AND l.reversal AND l.state = 'unmatched'),
            orig AS (
                SELECT o.id AS line_id, o.booking_date,
                       CASE WHEN o.direction = 'credit' THEN o.amount ELSE -o.amount END AS signed
                  FROM recon_lines l
                  JOIN recon_lines o ON o.bin = l.bin AND o.account_number = l.account_number
                                    AND NOT o.reversal
                                    AND o.direction <> l.direction AND o.amount = l.amount
                                    AND o.bank_ref = l.bank_ref
                 WHERE {_LINES_IN_SCOPE} AND l.reversal AND o.state = 'unmatched'
                -- two equi-joins, not one join ON (… OR …): that one could only be a nested loop
                UNION
                SELECT o.id, o.booking_date, CASE WHEN o.direction = 'credit' THEN o.amount ELSE -o.amount END
                  FROM recon_lines l
                  JOIN recon_lines o ON o.bin = l.bin AND o.account_number = l.account_number
                                    AND NOT o.reversal
                                    AND o.direction <> l.direction AND o.amount = l.amount
                                    AND o.end_to_end_id = l.end_to_end_id
                 WHERE {_LINES_IN_SCOPE} AND l.reversal AND o.state = 'unmatched'),
            dup AS (
                SELECT l.id AS line_id, l.booking_date, {_SIGNED} AS signed
                  FROM recon_lines l
                 WHERE {_LINES_IN_SCOPE} AND l.state = 'unmatched' AND NOT l.reversal
                   AND l.end_to_end_id IS NOT NULL
                   AND EXISTS (SELECT 1 FROM recon_lines o
                                WHERE o.bin = l.bin AND o.account_number = l.account_number AND o.id <> l.id
                                  AND NOT o.reversal AND o.direction = l.direction AND o.amount = l.amount
                                  AND o.end_to_end_id = l.end_to_end_id
                                  AND (o.state <> 'unmatched' OR o.id < l.id))),
            found AS (
                SELECT DISTINCT ON (line_id) kind, line_id, booking_date, signed FROM (
                    SELECT 'reversal' AS kind, * FROM rev UNION ALL SELECT 'reversal', * FROM orig
                    UNION ALL SELECT 'duplicate', * FROM dup) x
                 ORDER BY line_id, kind DESC),
            ins AS (
                INSERT INTO recon_exceptions (kind, bin, account_number, business_date, line_id, amount)
                SELECT kind, $1, $2, booking_date, line_id, signed FROM found
                ON CONFLICT DO NOTHING RETURNING kind)
            UPDATE recon_lines l SET state = 'exception' FROM found f WHERE l.id = f.line_id
            RETURNING f.kind""",
        *scope,
    )
    report.exceptions.update(r["kind"] for r in rows)


async def _propose_amount_date(conn: asyncpg.Connection, scope: tuple, path: str, window: int) -> int:
    """Pass c: one unmatched posting of the same signed amount within the date window, nearest first; each
    line and each entry proposed once."""
    status = await conn.execute(
        f"""WITH lines AS (
                SELECT l.id, l.booking_date, {_SIGNED} AS signed
                  FROM recon_lines l WHERE {_LINES_IN_SCOPE} AND l.state = 'unmatched' AND NOT l.reversal),
            entries AS (
                SELECT p.entry_id, min(p.business_date) AS business_date, sum(p.amount)::bigint AS amount
                  FROM ledger_bank_postings p
                 WHERE p.account_path = $5 AND p.business_date BETWEEN $3 - $6::int AND $4 + $6::int
                   AND p.kind NOT LIKE '{OWN_ENTRY_KINDS}' AND {_ENTRY_FREE}
                 GROUP BY p.entry_id),
            pairs AS (
                SELECT l.id AS line_id, e.entry_id,
                       row_number() OVER (PARTITION BY l.id
                                          ORDER BY abs(l.booking_date - e.business_date), e.entry_id)
                           AS by_line
                  FROM lines l JOIN entries e ON e.amount = l.signed
                                             AND abs(l.booking_date - e.business_date) <= $6::int),
            best AS (
                SELECT line_id, entry_id,
                       row_number() OVER (PARTITION BY entry_id ORDER BY line_id) AS by_entry
                  FROM pairs WHERE by_line = 1),
            ins AS (
                INSERT INTO recon_matches (line_id, rule, entry_ids, state)
                SELECT line_id, 'amount_date', ARRAY[entry_id], 'proposed' FROM best WHERE by_entry = 1
                RETURNING line_id)
            UPDATE recon_lines SET state = 'proposed' WHERE id IN (SELECT line_id FROM ins)""",
        *scope,
        path,
        window,
    )
    return _count(status)


async def _propose_one_to_many(conn: asyncpg.Connection, scope: tuple, path: str) -> int:
    """Pass d: one line = the sum of ≥ 2 unmatched postings of its booking day and direction that belong
    together — a batch (refs batch_id/batch) or, without one, all postings of one kind that day."""
    status = await conn.execute(
        f"""WITH lines AS (
                SELECT l.id, l.booking_date, {_SIGNED} AS signed
                  FROM recon_lines l WHERE {_LINES_IN_SCOPE} AND l.state = 'unmatched' AND NOT l.reversal),
            entries AS (
                SELECT p.entry_id, p.business_date, p.kind,
                       coalesce(p.refs->>'batch_id', p.refs->>'batch') AS batch,
                       sum(p.amount)::bigint AS amount
                  FROM ledger_bank_postings p
                 WHERE p.account_path = $5 AND p.business_date BETWEEN $3 AND $4
                   AND p.kind NOT LIKE '{OWN_ENTRY_KINDS}' AND {_ENTRY_FREE}
                 GROUP BY p.entry_id, p.business_date, p.kind, batch),
            groups AS (
                SELECT business_date, coalesce('batch:' || batch, 'kind:' || kind) AS grp,
                       sign(amount) AS dir,
                       sum(amount)::bigint AS total, array_agg(entry_id ORDER BY entry_id) AS entry_ids
                  FROM entries GROUP BY 1, 2, 3 HAVING count(*) >= 2),
            pairs AS (
                SELECT l.id AS line_id, g.entry_ids,
                       row_number() OVER (PARTITION BY l.id ORDER BY g.grp) AS by_line
                  FROM lines l JOIN groups g ON g.business_date = l.booking_date AND g.total = l.signed),
            best AS (
                SELECT line_id, entry_ids,
                       row_number() OVER (PARTITION BY entry_ids ORDER BY line_id) AS by_group
                  FROM pairs WHERE by_line = 1),
            ins AS (
                INSERT INTO recon_matches (line_id, rule, entry_ids, state)
                SELECT line_id, 'one_to_many', entry_ids, 'proposed' FROM best WHERE by_group = 1
                RETURNING line_id)
            UPDATE recon_lines SET state = 'proposed' WHERE id IN (SELECT line_id FROM ins)""",
        *scope,
        path,
    )
    return _count(status)


async def _remaining_exceptions(
    conn: asyncpg.Connection, scope: tuple, path: str, conflicts: list[int], report: MatchReport
) -> None:
    """In bank not in ledger (lines still unmatched or only proposed), in ledger not in bank (bank postings of
    the period no bank line claims), and callback conflicts on this account."""
    rows = await conn.fetch(
        f"""WITH bank AS (
                INSERT INTO recon_exceptions (kind, bin, account_number, business_date, line_id, amount)
                SELECT 'in_bank_not_ledger', $1, $2, l.booking_date, l.id, {_SIGNED}
                  FROM recon_lines l WHERE {_LINES_IN_SCOPE} AND l.state IN ('unmatched', 'proposed')
                ON CONFLICT DO NOTHING RETURNING kind),
            ledger AS (
                INSERT INTO recon_exceptions (kind, bin, account_number, business_date, entry_id, amount)
                SELECT 'in_ledger_not_bank', $1, $2, min(p.business_date), p.entry_id, -sum(p.amount)::bigint
                  FROM ledger_bank_postings p
                 WHERE p.account_path = $5 AND p.business_date BETWEEN $3 AND $4
                   AND p.kind NOT LIKE '{OWN_ENTRY_KINDS}' AND {_ENTRY_FREE}
                 GROUP BY p.entry_id
                ON CONFLICT DO NOTHING RETURNING kind),
            conflict AS (
                INSERT INTO recon_exceptions
                       (kind, bin, account_number, business_date, line_id, entry_id, amount)
                SELECT DISTINCT ON (c.entry_id) 'callback_conflict', $1, $2,
                       (c.booked_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, l.id, c.entry_id, 0
                  FROM payments_bank_credits c
                  LEFT JOIN recon_lines l ON l.bin = $1 AND l.account_number = $2
                                         AND l.bank_ref = c.bank_txn_id
                                         AND l.direction = 'credit' AND NOT l.reversal
                 WHERE c.payment_id = ANY($6::bigint[]) AND c.credited_bin = $1 AND c.credited_account = $2
                   AND (c.booked_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $3 AND $4
                 ORDER BY c.entry_id
                ON CONFLICT DO NOTHING RETURNING kind)
            SELECT kind FROM bank UNION ALL SELECT kind FROM ledger UNION ALL SELECT kind FROM conflict""",
        *scope,
        path,
        conflicts,
    )
    report.exceptions.update(r["kind"] for r in rows)


async def _resolve_matched(conn: asyncpg.Connection, scope: tuple) -> int:
    """Exceptions that a later match answered: a line now matched, an entry now claimed by an accepted
    match (e.g. yesterday's "in ledger, not in bank" found on today's statement)."""
    status = await conn.execute(
        f"""UPDATE recon_exceptions x
               SET state = 'resolved', resolution = 'linked', resolved_by = '{SYSTEM_ACTOR}',
                   resolved_at = now(),
                   note = coalesce(x.note || ' · ', '') || 'matched on a later statement'
             WHERE x.bin = $1 AND x.account_number = $2 AND x.state IN ('open', 'carried')
               AND x.business_date <= greatest($3::date, $4::date)
               AND ((x.kind = 'in_bank_not_ledger'
                     AND EXISTS (SELECT 1 FROM recon_lines l WHERE l.id = x.line_id AND l.state = 'matched'))
                 OR (x.kind = 'in_ledger_not_bank'
                     AND NOT {_unclaimed("x.entry_id", "'accepted'")}))""",
        *scope,
    )
    return _count(status)


_RUN_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def account_run_lock(bin_: str, account_number: str) -> asyncio.Lock:
    """This process's queue for one account's match runs. Runs of an account are serialised by an advisory
    lock (across processes) that is waited for while holding a pooled connection: twenty requests at once
    would hold the whole pool waiting, and the rest would time out with 503. Callers wait here first, without
    a connection, so one process holds one connection per account at a time."""
    locks = _RUN_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault((bin_, account_number), asyncio.Lock())


async def match_account_days(
    conn: asyncpg.Connection,
    bin_: str,
    account_number: str,
    start: date,
    end: date | None = None,
    *,
    keys: AppKeys,
    window_days: int = 2,
    sanity_cap: int | None = None,
    late_tolerance: timedelta | None = None,
    now: datetime | None = None,
) -> MatchReport:
    """Match one collection account's lines booked `start`..`end` (inclusive) and classify what is left.
    Safe to run again: each pass takes only unmatched lines, settlement is keyed by the bank reference, and
    exceptions are unique per line/entry and kind. Runs of one account are serialised."""
    end = end or start
    scope = (bin_, account_number, start, end)
    path = bank_account(bin_, account_number)
    report = MatchReport()
    lock = f"recon:match:{bin_}:{account_number}"
    await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock)
    try:
        async with conn.transaction():
            await _set_based(conn)
            matched, differs = await _accept_by_credit(conn, scope, "bank_txn_id", None)
        report.matched["bank_txn_id"] += matched
        report.exceptions["amount_differs"] += differs
        # Before any narrative is read: lines the ledger already names by the bank's id (payouts), and lines
        # another capability claims (returned payouts) — never to be taken for a citizen's payment.
        claim_scope = Scope(bin_, account_number, start, end)
        async with conn.transaction():
            await _set_based(conn)
            report.matched["entry_ref"] += await accept_by_entry_ref(conn, claim_scope, path, SYSTEM_ACTOR)
        report.matched["claimed"] += sum((await run_claimants(conn, claim_scope, SYSTEM_ACTOR)).values())
        await _by_reference(
            conn, scope, keys, report, now=now, sanity_cap=sanity_cap, late_tolerance=late_tolerance
        )
        # Open conflicts (the newest 100, as payments lists them) that concern this account's credits.
        conflicts = [c.payment_id for c in (await open_callback_issues(conn)).conflicts]
        async with conn.transaction():
            await _set_based(conn)
            await _bank_side_exceptions(conn, scope, report)
            report.proposed["amount_date"] += await _propose_amount_date(conn, scope, path, window_days)
            report.proposed["one_to_many"] += await _propose_one_to_many(conn, scope, path)
            await _remaining_exceptions(conn, scope, path, conflicts, report)
            report.resolved += await _resolve_matched(conn, scope)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock)
    return report


async def match_statement(conn: asyncpg.Connection, statement_id: int, **kw) -> MatchReport | None:
    """Match the account and period of one imported statement (the importer calls this after a commit)."""
    row = await conn.fetchrow(
        "SELECT bin, account_number, from_date, to_date FROM recon_statements WHERE id = $1", statement_id
    )
    if row is None:
        return None
    return await match_account_days(
        conn, row["bin"], row["account_number"], row["from_date"], row["to_date"], **kw
    )
