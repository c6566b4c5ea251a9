"""Bank lines another capability recognises as its own: a return of a disbursement payout, say. A claimant is
registered by that capability (`register_claimant`) and runs inside matching, after the bank-reference pass
and before the narrative pass, so a line it knows is never taken for a citizen's payment (a returned payout
must not reach payment settlement as an unknown reference).

A claimant reads the open lines of the scope through the view `recon_open_lines` (set-based, one query),
books what the line means in its own tables and the ledger, and answers which journal entry explains each
line it took; matching records those as accepted matches. Reconciliation never imports the claimant's package:
the dependency points from it to here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import asyncpg
import structlog

log = structlog.get_logger("reconciliation.claims")


@dataclass(frozen=True)
class Scope:
    """One bank account's lines booked between two dates (inclusive)."""

    bin: str
    account_number: str
    date_from: date
    date_to: date


@dataclass(frozen=True)
class Claim:
    line_id: int
    entry_id: int


Claimant = Callable[[asyncpg.Connection, Scope], Awaitable[list[Claim]]]
_CLAIMANTS: dict[str, Claimant] = {}


def register_claimant(name: str, claimant: Claimant) -> None:
    """Idempotent per name, so a capability's setup may run more than once (tests build many apps)."""
    _CLAIMANTS[name] = claimant


def claimants() -> list[tuple[str, Claimant]]:
    return sorted(_CLAIMANTS.items())


async def accept_by_entry_ref(conn: asyncpg.Connection, scope: Scope, path: str, actor: str) -> int:
    """Pass a′: a line whose bank reference is the bank transaction id an entry recorded when it booked the
    money itself (a disbursement payout: the bank answered with its id) — same account, same signed amount,
    the entry not yet claimed. Accepted: the bank's own id on both sides is as strict as pass a."""
    status = await conn.execute(
        """WITH cand AS (
                SELECT DISTINCT ON (l.id) l.id AS line_id, p.entry_id
                  FROM recon_lines l
                  JOIN ledger_bank_postings p
                    ON p.refs->>'bank_txn_id' = l.bank_ref AND p.account_path = $5
                   AND p.amount = CASE WHEN l.direction = 'credit' THEN l.amount ELSE -l.amount END
                 WHERE l.bin = $1 AND l.account_number = $2 AND l.booking_date BETWEEN $3 AND $4
                   AND l.state = 'unmatched' AND NOT l.reversal
                   AND NOT EXISTS (SELECT 1 FROM recon_matches m
                                    CROSS JOIN LATERAL unnest(m.entry_ids) AS e(id)
                                    WHERE m.state = 'accepted' AND e.id = p.entry_id)
                 ORDER BY l.id, p.entry_id),
            matched AS (
                INSERT INTO recon_matches (line_id, rule, entry_ids, state, decided_by, decided_at)
                SELECT line_id, 'entry_ref', ARRAY[entry_id], 'accepted', $6, now() FROM cand
                RETURNING line_id)
            UPDATE recon_lines l SET state = 'matched' FROM matched m WHERE l.id = m.line_id""",
        scope.bin,
        scope.account_number,
        scope.date_from,
        scope.date_to,
        path,
        actor,
    )
    return int(status.rsplit(" ", 1)[-1])


async def run_claimants(conn: asyncpg.Connection, scope: Scope, actor: str) -> dict[str, int]:
    """Each registered claimant, in its own savepoint: one that fails leaves its lines for the later passes
    (they become exceptions a person sees) instead of stopping the match. Returns lines claimed per name."""
    taken: dict[str, int] = {}
    for name, claimant in claimants():
        try:
            async with conn.transaction():
                claims = await claimant(conn, scope)
                if claims:
                    await conn.execute(
                        """WITH c AS (SELECT * FROM unnest($1::bigint[], $2::bigint[])
                                             AS u(line_id, entry_id)),
                                m AS (INSERT INTO recon_matches
                                             (line_id, rule, entry_ids, state, decided_by, decided_at, note)
                                      SELECT line_id, 'claimed', ARRAY[entry_id], 'accepted', $3, now(), $4
                                        FROM c RETURNING line_id)
                           UPDATE recon_lines l SET state = 'matched' FROM m
                            WHERE l.id = m.line_id AND l.state = 'unmatched'""",
                        [c.line_id for c in claims],
                        [c.entry_id for c in claims],
                        actor,
                        name,
                    )
        except Exception:
            log.exception("recon_claimant_failed", claimant=name, account=scope.account_number[-4:])
            continue
        taken[name] = len(claims)
    return taken
