"""The differences finance works: list them (with age, owner, state), and resolve each with a note — link a
line to an entry by hand, accept a proposed match, mark a ledger line as expected or carry an exception
forward with a reason, or correct the ledger (refund, adjustment, write-off) — the corrections only after a
second person approves them (core.approvals), when the correcting entry is posted and the exception resolved
in the approval's transaction. Every step is audited.

An exception's `amount` is what it is worth to the ledger's bank account: posting it there (against the
correction's account) makes the ledger agree with the bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from core.approvals import Approval, pending_approval_for, propose, register_approval_handler
from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, ValidationFailed
from core.pii import mask_account
from ledger import open_day_for, post_entry
from ledger.accounts import BANK_CHARGES, REFUNDS_DUE, WRITE_OFFS, bank_account

KINDS = (
    "in_bank_not_ledger",
    "in_ledger_not_bank",
    "amount_differs",
    "duplicate",
    "reversal",
    "callback_conflict",
)
STATES = ("open", "resolved", "carried")
# Corrections that move money by hand: each needs a second person.
CORRECTIONS = {"refund": REFUNDS_DUE, "adjustment": BANK_CHARGES, "write_off": WRITE_OFFS}
ACTIONS = ("link", "accept_match", "expected", "carry", *CORRECTIONS)
APPROVAL_KIND = "recon.correction"


class ExceptionNotOpen(Conflict):
    slug = "recon-exception-not-open"
    title_vi = "Ngoại lệ này không còn mở"
    title_en = "This exception is no longer open"


class ResolutionRefused(ValidationFailed):
    slug = "recon-resolution-refused"
    title_vi = "Không xử lý được ngoại lệ theo cách này"
    title_en = "The exception cannot be resolved this way"


@dataclass(frozen=True)
class ReconException:
    id: int
    kind: str
    bin: str
    account_number: str
    business_date: date
    line_id: int | None
    entry_id: int | None
    amount: int
    owner: str | None
    state: str
    resolution: str | None
    note: str | None
    opened_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    age_days: int
    escalated: bool  # "in ledger, not in bank" older than the cut-off


def _exception(row: asyncpg.Record, today: date, expected_days: int) -> ReconException:
    age = max((today - row["business_date"]).days, 0)
    return ReconException(
        id=row["id"],
        kind=row["kind"],
        bin=row["bin"],
        account_number=row["account_number"],
        business_date=row["business_date"],
        line_id=row["line_id"],
        entry_id=row["entry_id"],
        amount=row["amount"],
        owner=row["owner"],
        state=row["state"],
        resolution=row["resolution"],
        note=row["note"],
        opened_at=row["opened_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        age_days=age,
        escalated=row["state"] == "open" and row["kind"] != "callback_conflict" and age > expected_days,
    )


async def list_exceptions(
    conn: asyncpg.Connection,
    *,
    today: date,
    expected_days: int,
    state: str | None = "open",
    kind: str | None = None,
    bin_: str | None = None,
    account_number: str | None = None,
    business_date: date | None = None,
    limit: int = 500,
) -> list[ReconException]:
    rows = await conn.fetch(
        """SELECT * FROM recon_exceptions
            WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
              AND ($3::text IS NULL OR bin = $3) AND ($4::text IS NULL OR account_number = $4)
              AND ($5::date IS NULL OR business_date = $5)
            ORDER BY business_date, id LIMIT $6""",
        state,
        kind,
        bin_,
        account_number,
        business_date,
        limit,
    )
    return [_exception(r, today, expected_days) for r in rows]


async def exception_by_id(
    conn: asyncpg.Connection, exception_id: int, *, today: date, expected_days: int
) -> ReconException:
    row = await conn.fetchrow("SELECT * FROM recon_exceptions WHERE id = $1", exception_id)
    if row is None:
        raise NotFound(f"no exception {exception_id}", field="id")
    return _exception(row, today, expected_days)


async def exception_context(conn: asyncpg.Connection, exc: ReconException) -> dict[str, Any]:
    """What the exception page shows beside it: the bank line (masked), the proposals for it, the ledger
    entry, and a pending correction."""
    line = None
    if exc.line_id is not None:
        row = await conn.fetchrow(
            """SELECT id, bank_ref, booking_date, value_date, direction, amount, reversal, narrative,
                      counterparty_name, counterparty_account, state
                 FROM recon_lines WHERE id = $1""",
            exc.line_id,
        )
        if row is not None:
            line = {**row, "counterparty_account": mask_account(row["counterparty_account"])}
    proposals = await conn.fetch(
        """SELECT id, rule, entry_ids, state, created_at FROM recon_matches
            WHERE state = 'proposed' AND line_id = $1 ORDER BY id""",
        exc.line_id,
    )
    entry = None
    if exc.entry_id is not None:
        entry = await conn.fetchrow(
            """SELECT entry_id, min(business_date) AS business_date, sum(amount)::bigint AS amount,
                      min(kind) AS kind
                 FROM ledger_bank_postings WHERE entry_id = $1 GROUP BY entry_id""",
            exc.entry_id,
        )
    pending = await pending_approval_for(conn, APPROVAL_KIND, _subject(exc.id))
    return {"line": line, "proposals": proposals, "entry": entry, "pending": pending}


def _subject(exception_id: int) -> str:
    return f"recon_exception:{exception_id}"


async def _locked_open(conn: asyncpg.Connection, exception_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM recon_exceptions WHERE id = $1 FOR UPDATE", exception_id)
    if row is None:
        raise NotFound(f"no exception {exception_id}", field="id")
    if row["state"] not in ("open", "carried"):
        raise ExceptionNotOpen(
            f"exception {exception_id} is {row['state']}", message="recon.exception.not_open"
        )
    return row


async def _close_exception(
    conn: asyncpg.Connection, row: asyncpg.Record, resolution: str, actor: str, note: str
) -> None:
    state = "carried" if resolution in ("expected", "carried") else "resolved"
    await conn.execute(
        """UPDATE recon_exceptions SET state = $2, resolution = $3, note = $4, resolved_by = $5,
                  resolved_at = now(), owner = coalesce(owner, $5)
            WHERE id = $1""",
        row["id"],
        state,
        resolution,
        note,
        actor,
    )
    await record_audit(
        conn,
        actor=actor,
        action="recon.exception_resolved",
        subject=_subject(row["id"]),
        before={"state": row["state"], "kind": row["kind"], "amount": row["amount"]},
        after={"state": state, "resolution": resolution, "note": note},
    )


async def _resolve_answered(conn: asyncpg.Connection, entry_ids: list[int], line_id: int, actor: str) -> None:
    """Other open exceptions a new accepted match answers: the entries' "in ledger, not in bank" and the
    line's "in bank, not in ledger"."""
    await conn.execute(
        """UPDATE recon_exceptions SET state = 'resolved', resolution = 'linked', resolved_by = $3,
                  resolved_at = now()
            WHERE state IN ('open', 'carried')
              AND ((kind = 'in_ledger_not_bank' AND entry_id = ANY($1::bigint[]))
                OR (kind = 'in_bank_not_ledger' AND line_id = $2))""",
        entry_ids,
        line_id,
        actor,
    )


async def _settle_line(conn: asyncpg.Connection, line_id: int, entry_ids: list[int], actor: str) -> None:
    """After a match of the line was accepted: its other proposals are rejected, the line is matched and the
    exceptions the match answers are resolved."""
    await conn.execute(
        """UPDATE recon_matches SET state = 'rejected', decided_by = $2, decided_at = now()
            WHERE line_id = $1 AND state = 'proposed'""",
        line_id,
        actor,
    )
    await conn.execute("UPDATE recon_lines SET state = 'matched' WHERE id = $1", line_id)
    await _resolve_answered(conn, entry_ids, line_id, actor)


async def _accept(
    conn: asyncpg.Connection, line_id: int, entry_ids: list[int], rule: str, actor: str, note: str
) -> int:
    if await conn.fetchval(
        """SELECT true FROM recon_matches
            WHERE state = 'accepted' AND (line_id = $1 OR entry_ids && $2::bigint[])""",
        line_id,
        entry_ids,
    ):
        raise ResolutionRefused(
            "the line or the entry is already matched",
            field="entry_id",
            message="recon.exception.already_matched",
        )
    match_id = await conn.fetchval(
        """INSERT INTO recon_matches (line_id, rule, entry_ids, state, decided_by, decided_at, note)
           VALUES ($1, $2, $3, 'accepted', $4, now(), $5) RETURNING id""",
        line_id,
        rule,
        entry_ids,
        actor,
        note,
    )
    await _settle_line(conn, line_id, entry_ids, actor)
    return int(match_id)


@dataclass(frozen=True)
class Resolution:
    exception_id: int
    state: str
    approval_id: int | None  # a correction waiting for its approver


async def resolve_exception(
    conn: asyncpg.Connection,
    exception_id: int,
    *,
    action: str,
    note: str,
    actor: str,
    entry_id: int | None = None,
    line_id: int | None = None,
    match_id: int | None = None,
) -> Resolution:
    """Resolve one exception as finance chose. A correction (refund, adjustment, write-off) is proposed for a
    second person and the exception stays open until it is approved."""
    if not note.strip():
        raise ResolutionRefused("a note is required", field="note", message="recon.exception.note_required")
    async with own_or_joined_transaction(conn):
        row = await _locked_open(conn, exception_id)
        bank_path = bank_account(row["bin"], row["account_number"])
        if action == "link":
            the_line = row["line_id"] if row["line_id"] is not None else line_id
            the_entry = row["entry_id"] if row["line_id"] is not None and entry_id is None else entry_id
            if row["line_id"] is None and row["entry_id"] is not None:
                the_entry = row["entry_id"]
            if the_line is None or the_entry is None:
                raise ResolutionRefused(
                    "name the bank line or the journal entry to link",
                    field="entry_id" if row["line_id"] is not None else "line_id",
                    message="recon.exception.link_what",
                )
            ok = await conn.fetchval(
                """SELECT (SELECT true FROM recon_lines WHERE id = $1 AND bin = $3 AND account_number = $4)
                      AND (SELECT true FROM ledger_bank_postings
                            WHERE entry_id = $2 AND account_path = $5 LIMIT 1)""",
                the_line,
                the_entry,
                row["bin"],
                row["account_number"],
                bank_path,
            )
            if not ok:
                raise ResolutionRefused(
                    "the line and the entry must both be on this bank account",
                    field="entry_id",
                    message="recon.exception.link_other_account",
                )
            await _accept(conn, the_line, [the_entry], "manual", actor, note)
            await _close_exception(conn, row, "linked", actor, note)
        elif action == "accept_match":
            match = await conn.fetchrow(
                "SELECT * FROM recon_matches WHERE id = $1 AND state = 'proposed' FOR UPDATE", match_id
            )
            if match is None or (
                match["line_id"] != row["line_id"]
                and (row["entry_id"] is None or row["entry_id"] not in match["entry_ids"])
            ):
                raise ResolutionRefused(
                    "no proposed match of this exception with that id",
                    field="match_id",
                    message="recon.exception.no_proposal",
                )
            await conn.execute(
                """UPDATE recon_matches SET state = 'accepted', decided_by = $2, decided_at = now(), note = $3
                    WHERE id = $1""",
                match["id"],
                actor,
                note,
            )
            await _settle_line(conn, match["line_id"], list(match["entry_ids"]), actor)
            await _close_exception(conn, row, "accepted_match", actor, note)
        elif action in ("expected", "carry"):
            resolution = "expected" if action == "expected" else "carried"
            # The same carry again (a form sent twice, a retry) changes nothing and records nothing.
            if (row["state"], row["resolution"], row["note"]) != ("carried", resolution, note):
                await _close_exception(conn, row, resolution, actor, note)
        elif action in CORRECTIONS:
            if row["amount"] == 0:
                raise ResolutionRefused(
                    "this exception is worth nothing to the bank account: there is nothing to post",
                    field="action",
                    message="recon.exception.nothing_to_post",
                )
            approval = await propose(
                conn,
                APPROVAL_KIND,
                _subject(exception_id),
                {"exception_id": exception_id, "action": action, "amount": row["amount"], "note": note},
                abs(row["amount"]),
                actor,
                note,
            )
            await conn.execute(
                "UPDATE recon_exceptions SET owner = coalesce(owner, $2) WHERE id = $1", exception_id, actor
            )
            return Resolution(exception_id, row["state"], approval.id)
        else:
            raise ResolutionRefused(f"action is one of {', '.join(ACTIONS)}", field="action")
        state = await conn.fetchval("SELECT state FROM recon_exceptions WHERE id = $1", exception_id)
    return Resolution(exception_id, state, None)


async def _carry_out_correction(
    conn: asyncpg.Connection, payload: dict[str, Any], approval: Approval
) -> None:
    """On approval (in its transaction): post the correcting entry to the bank account and the correction's
    account, link it to the bank line when there is one, and resolve the exception."""
    row = await _locked_open(conn, int(payload["exception_id"]))
    action = str(payload["action"])
    amount = int(row["amount"])
    if amount != int(payload["amount"]):
        raise Conflict("the exception changed since the correction was proposed", field="amount")
    day = await open_day_for(conn, row["business_date"])
    entry = await post_entry(
        conn,
        idempotency_key=f"recon:exception:{row['id']}:{action}",
        kind=f"recon.{action}",
        business_date=day,
        lines=[(bank_account(row["bin"], row["account_number"]), amount), (CORRECTIONS[action], -amount)],
        refs={"recon_exception": str(row["id"]), "approval": str(approval.id)},
        memo=f"reconciliation {action} of exception {row['id']} ({row['kind']})",
    )
    if row["line_id"] is not None and row["kind"] in ("in_bank_not_ledger", "reversal", "duplicate"):
        await conn.execute(
            """INSERT INTO recon_matches (line_id, rule, entry_ids, state, decided_by, decided_at, note)
               SELECT $1, 'manual', ARRAY[$2::bigint], 'accepted', $3, now(), $4
                WHERE NOT EXISTS (SELECT 1 FROM recon_matches WHERE line_id = $1 AND state = 'accepted')""",
            row["line_id"],
            entry.id,
            approval.checker,
            f"{action} approved",
        )
        await conn.execute(
            "UPDATE recon_lines SET state = 'matched' WHERE id = $1 AND state <> 'matched'", row["line_id"]
        )
    await _close_exception(
        conn, row, action, approval.checker or approval.maker, str(payload.get("note") or action)
    )


register_approval_handler(APPROVAL_KIND, _carry_out_correction)
