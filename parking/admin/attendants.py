"""Which attendants work a lot: assigning and unassigning staff accounts of the attendant role (the accounts
are core's, through core.staff), each change audited on the lot."""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel, ConfigDict

from core.audit import record_audit
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from core.staff import staff_by_username
from parking.admin.fields import Username

map_constraint(
    "lot_attendants_pkey",
    Conflict,
    "username",
    "already an attendant of this lot",
    message="padmin.err.already_attendant",
)


class AttendantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username


async def assign_attendant(conn: asyncpg.Connection, lot_id: str, username: str, *, actor: str) -> None:
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1", lot_id):
            raise NotFound("no such lot", field="lot_id")
        user = await staff_by_username(conn, username.strip().lower())
        if user is None or not user.active:
            raise ValidationFailed(
                "no active staff account with this username", field="username", message="padmin.err.no_staff"
            )
        if user.role != "attendant":
            raise ValidationFailed(
                f"{username} is {user.role}, not an attendant",
                field="username",
                message="padmin.err.not_attendant",
            )
        await conn.execute(
            "INSERT INTO lot_attendants (lot_id, staff_user_id) VALUES ($1, $2)", lot_id, user.id
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.attendant.assign",
            subject=f"lot:{lot_id}",
            after={"username": username},
        )


async def unassign_attendant(conn: asyncpg.Connection, lot_id: str, username: str, *, actor: str) -> None:
    async with conn.transaction():
        user = await staff_by_username(conn, username)
        done = user is not None and await conn.fetchval(
            "DELETE FROM lot_attendants WHERE lot_id = $1 AND staff_user_id = $2 RETURNING true",
            lot_id,
            user.id,
        )
        if not done:
            raise NotFound("this staff member is not an attendant of this lot", field="username")
        await record_audit(
            conn,
            actor=actor,
            action="parking.attendant.unassign",
            subject=f"lot:{lot_id}",
            before={"username": username},
        )
