"""Undo and correct (issue 12, point 1): within CORRECTION_WINDOW of a check-in, whoever checked the vehicle
in (or an admin) may correct its plate or class, or cancel the entry. The plate is re-validated for the
class, a plate already inside is refused, and nothing changes once the exit fee is quoted. Both are audited
with the old and new values. After the window only an admin voids, with a reason (sessions.void_session)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.audit import record_audit
from core.db import retried_on_deadlock
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parking.console_messages import CORRECTION_WINDOW
from parking.sessions import (
    ClassFull,
    PlateAlreadyInside,
    PlateInput,
    refuse_class_not_taken,
    resolve_plate,
)

CANCEL_REASON = "nhập nhầm khi nhận xe"  # stored when the attendant gives no reason (void_reason needs 5+)


class CorrectionRefused(Conflict):
    slug = "correction-refused"
    title_vi = "Không sửa hay huỷ được lượt gửi xe này"
    title_en = "This session can no longer be corrected or cancelled"


def correctable(session: asyncpg.Record, principal, now: datetime) -> bool:
    """What the console's vehicle card asks before offering "correct" and "cancel"."""
    return (
        session["status"] == "inside"
        and now - session["entered_at"] <= CORRECTION_WINDOW
        and (principal.role == "admin" or session["checked_in_by"] == principal.actor)
    )


def _check_may_undo(session: asyncpg.Record, principal, now: datetime) -> None:
    if session["status"] == "awaiting_payment":
        raise CorrectionRefused(
            "the exit fee is quoted: the session awaits payment", message="console.err.awaiting"
        )
    if session["status"] != "inside":
        raise CorrectionRefused(f"the session is {session['status']}", message="console.err.finished")
    if principal.role != "admin" and session["checked_in_by"] != principal.actor:
        raise Forbidden("only whoever checked the vehicle in may undo it", message="console.err.not_yours")
    if now - session["entered_at"] > CORRECTION_WINDOW:
        minutes = int(CORRECTION_WINDOW.total_seconds() // 60)
        raise CorrectionRefused(
            f"more than {minutes} minutes since check-in; an admin may void it with a reason",
            message="console.err.window_over",
        )


async def _session_for_update(conn: asyncpg.Connection, lot_id: str, session_id) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM parking_sessions WHERE id = $1 AND lot_id = $2 FOR UPDATE", session_id, lot_id
    )
    if row is None:
        raise NotFound("no such session in this lot", field="session_id")
    return row


@retried_on_deadlock
async def correct_session(
    conn: asyncpg.Connection,
    *,
    lot_id: str,
    session_id,
    plate: str | None,
    vehicle_class: str | None,
    override_reason: str | None,
    class_confirmed: bool,
    principal,
    now: datetime,
) -> asyncpg.Record:
    """Correct a session's plate or class. A class change locks two capacity rows; a transaction that closes
    sessions of two classes (a bank's group of payments) may hold them in the other order, and PostgreSQL
    then aborts one of the two: the correction is tried again rather than answered with an error."""
    async with conn.transaction():
        session = await _session_for_update(conn, lot_id, session_id)
        _check_may_undo(session, principal, now)
        new_class = vehicle_class or session["vehicle_class"]
        if plate is None:
            # The class changes alone: the compact plate re-read as the new class (the written form would
            # carry the old class's separators); a plate taken with a reason keeps its reason.
            text = session["plate"]
            override_reason = override_reason or session["plate_override_reason"]
        else:
            text = plate
        resolved = resolve_plate(PlateInput(text, (), override_reason, class_confirmed), new_class)
        if resolved.compact == session["plate"] and new_class == session["vehicle_class"]:
            raise ValidationFailed(
                "plate and class are unchanged", field="plate", message="console.err.unchanged"
            )
        if new_class != session["vehicle_class"]:
            # The rows check-in locks, whose locked versions hold the newest counts of vehicles inside (0029).
            # Both classes' rows, in one order: the update below moves the count from the old class's row to
            # the new one's, and two opposite corrections locking them in their own orders would deadlock.
            spaces = {
                r["vehicle_class"]: r
                for r in await conn.fetch(
                    "SELECT vehicle_class, capacity, inside FROM lot_capacities "
                    "WHERE lot_id = $1 AND vehicle_class = ANY($2::text[]) ORDER BY vehicle_class FOR UPDATE",
                    lot_id,
                    [session["vehicle_class"], new_class],
                )
            }
            space = spaces.get(new_class)
            if space is None or not space["capacity"]:
                refuse_class_not_taken(new_class)
            capacity, inside = space["capacity"], space["inside"]
            if inside >= capacity:
                raise ClassFull(f"{inside} of {capacity} {new_class} spaces taken", field="vehicle_class")
        if resolved.compact != session["plate"]:
            where = await conn.fetchval(
                "SELECT lot_id FROM parking_sessions WHERE plate = $1 AND id <> $2 "
                "AND status IN ('inside', 'awaiting_payment')",
                resolved.compact,
                session["id"],
            )
            if where is not None:
                raise PlateAlreadyInside(f"{resolved.written} is inside lot {where}", field="plate")
        row = await conn.fetchrow(
            """UPDATE parking_sessions SET plate = $2, plate_written = $3, vehicle_class = $4,
                   plate_override_reason = $5, corrected_at = $6, corrected_by = $7
             WHERE id = $1 RETURNING *""",
            session["id"],
            resolved.compact,
            resolved.written,
            new_class,
            resolved.override_reason,
            now,
            principal.actor,
        )
        await record_audit(
            conn,
            actor=principal.actor,
            action="parking.correct",
            subject=f"session:{session['id']}",
            before={
                "plate": session["plate_written"],
                "class": session["vehicle_class"],
                "override_reason": session["plate_override_reason"],
            },
            after={
                "plate": row["plate_written"],
                "class": row["vehicle_class"],
                "override_reason": row["plate_override_reason"],
            },
        )
    return row


async def cancel_session(
    conn: asyncpg.Connection, *, lot_id: str, session_id, reason: str | None, principal, now: datetime
) -> asyncpg.Record:
    """The entry was a mistake: within the window the session is voided as if it never was."""
    async with conn.transaction():
        session = await _session_for_update(conn, lot_id, session_id)
        _check_may_undo(session, principal, now)
        why = (reason or "").strip() or CANCEL_REASON
        row = await conn.fetchrow(
            """UPDATE parking_sessions SET status = 'voided', void_reason = $2, closed_at = $3,
                   closed_by = $4, cancelled_by = $4
             WHERE id = $1 RETURNING *""",
            session["id"],
            why,
            now,
            principal.actor,
        )
        await record_audit(
            conn,
            actor=principal.actor,
            action="parking.cancel",
            subject=f"session:{session['id']}",
            before={
                "status": session["status"],
                "plate": session["plate_written"],
                "class": session["vehicle_class"],
            },
            after={"status": "voided", "reason": why},
        )
    return row
