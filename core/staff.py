"""Staff account management by admins: deactivate and reactivate, reset a password, revoke every session,
clear login failures. Each change and its audit row commit together; the API, the admin page and the CLI
all call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from core.audit import record_audit
from core.auth import MIN_PASSWORD_LENGTH, hash_password
from core.errors import Conflict, NotFound, ValidationFailed

MAX_PASSWORD_LENGTH = 200


@dataclass(frozen=True)
class StaffState:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    deactivated_at: datetime | None
    sessions: int  # live sessions
    recent_failures: int  # failed logins since the window start, the last success or the last unlock

    def as_json(self) -> dict:
        out = dict(self.__dict__)
        out["deactivated_at"] = self.deactivated_at.isoformat() if self.deactivated_at else None
        return out


_STATE_SQL = """
SELECT u.id, u.username, u.display_name, u.role, u.active, u.deactivated_at,
       (SELECT count(*) FROM staff_sessions s WHERE s.user_id = u.id AND s.expires_at > now()) AS sessions,
       (SELECT count(*) FROM login_attempts a
         WHERE a.username = u.username AND NOT a.success
           AND a.at > greatest(now() - $1::interval, u.failures_reset_at,
                               (SELECT max(b.at) FROM login_attempts b
                                 WHERE b.username = u.username AND b.success))) AS recent_failures
  FROM staff_users u
"""


async def staff_states(conn: asyncpg.Connection, *, window_minutes: int = 15) -> list[StaffState]:
    rows = await conn.fetch(_STATE_SQL + " ORDER BY u.username", timedelta(minutes=window_minutes))
    return [StaffState(**dict(r)) for r in rows]


async def staff_state(conn: asyncpg.Connection, username: str, *, window_minutes: int = 15) -> StaffState:
    row = await conn.fetchrow(
        _STATE_SQL + " WHERE u.username = $2", timedelta(minutes=window_minutes), username
    )
    if row is None:
        raise NotFound("no staff account with this username", field="username")
    return StaffState(**dict(row))


async def _locked_user(conn: asyncpg.Connection, username: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, username, role, active FROM staff_users WHERE username = $1 FOR UPDATE", username
    )
    if row is None:
        raise NotFound("no staff account with this username", field="username")
    return row


async def _delete_sessions(conn: asyncpg.Connection, user_id: int) -> int:
    result = await conn.execute("DELETE FROM staff_sessions WHERE user_id = $1", user_id)
    return int(result.split()[-1])


async def deactivate_staff_user(conn: asyncpg.Connection, *, username: str, actor: str) -> int:
    """The account can no longer log in and its sessions end now. Refused for oneself and for the last
    active admin (nobody could manage staff any more). Returns the number of sessions ended."""
    if actor == f"staff:{username}":
        raise Conflict("you cannot deactivate your own account", field="username")
    async with conn.transaction():
        user = await _locked_user(conn, username)
        if not user["active"]:
            return 0
        if user["role"] == "admin":
            # Lock every active admin row (in id order, so two admins deactivating each other queue here).
            admins = await conn.fetch(
                "SELECT id FROM staff_users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE"
            )
            if len(admins) <= 1:
                raise Conflict("this is the last active admin", field="username")
        await conn.execute(
            "UPDATE staff_users SET active = false, deactivated_at = now() WHERE id = $1", user["id"]
        )
        ended = await _delete_sessions(conn, user["id"])
        await record_audit(
            conn,
            actor=actor,
            action="staff.deactivate",
            subject=f"staff:{username}",
            before={"active": True},
            after={"active": False, "sessions_revoked": ended},
        )
    return ended


async def activate_staff_user(conn: asyncpg.Connection, *, username: str, actor: str) -> None:
    async with conn.transaction():
        user = await _locked_user(conn, username)
        if user["active"]:
            return
        await conn.execute(
            "UPDATE staff_users SET active = true, deactivated_at = NULL WHERE id = $1", user["id"]
        )
        await record_audit(
            conn,
            actor=actor,
            action="staff.activate",
            subject=f"staff:{username}",
            before={"active": False},
            after={"active": True},
        )


def validate_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"{MIN_PASSWORD_LENGTH}–{MAX_PASSWORD_LENGTH} characters", field="password")


async def reset_staff_password(conn: asyncpg.Connection, *, username: str, password: str, actor: str) -> int:
    """Set a new password and end every session of the account. Returns the number of sessions ended."""
    validate_password(password)
    password_hash = await hash_password(password)  # before the transaction: no lock held while hashing
    async with conn.transaction():
        user = await _locked_user(conn, username)
        await conn.execute(
            "UPDATE staff_users SET password_hash = $2 WHERE id = $1", user["id"], password_hash
        )
        ended = await _delete_sessions(conn, user["id"])
        await record_audit(
            conn,
            actor=actor,
            action="staff.reset_password",
            subject=f"staff:{username}",
            after={"sessions_revoked": ended},
        )
    return ended


async def revoke_staff_sessions(conn: asyncpg.Connection, *, username: str, actor: str) -> int:
    async with conn.transaction():
        user = await _locked_user(conn, username)
        ended = await _delete_sessions(conn, user["id"])
        await record_audit(
            conn,
            actor=actor,
            action="staff.revoke_sessions",
            subject=f"staff:{username}",
            after={"sessions_revoked": ended},
        )
    return ended


async def unlock_staff_user(conn: asyncpg.Connection, *, username: str, actor: str) -> None:
    """Failed logins before now no longer slow this account down (per-address limits still apply: they
    belong to the address, not to the account). The failures stay recorded."""
    async with conn.transaction():
        user = await _locked_user(conn, username)
        await conn.execute("UPDATE staff_users SET failures_reset_at = now() WHERE id = $1", user["id"])
        await record_audit(conn, actor=actor, action="staff.unlock", subject=f"staff:{username}")
