"""Staff account management by admins: deactivate and reactivate, reset a password, revoke every session,
clear an account's or an address's login failures. Each change and its audit row commit together; the API,
the admin page and the CLI all call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from core.audit import record_audit
from core.auth import ADDRESS_UNLOCK_MARKER, _lock_key
from core.errors import Conflict, NotFound, ValidationFailed
from core.passwords import MIN_PASSWORD_LENGTH, hash_password
from core.session_cache import forget_staff_sessions

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
    failures_24h: int  # every failed login in the last 24 h, whatever came after (so an attack stays visible)


_STATE_SQL = """
SELECT u.id, u.username, u.display_name, u.role, u.active, u.deactivated_at,
       (SELECT count(*) FROM staff_sessions s WHERE s.user_id = u.id AND s.expires_at > now()) AS sessions,
       (SELECT count(*) FROM login_attempts a
         WHERE a.username = u.username AND NOT a.success
           AND a.at > greatest(now() - $1::interval, u.failures_reset_at,
                               (SELECT max(b.at) FROM login_attempts b
                                 WHERE b.username = u.username AND b.success))) AS recent_failures,
       (SELECT count(*) FROM login_attempts a
         WHERE a.username = u.username AND NOT a.success
           AND a.at > now() - interval '24 hours') AS failures_24h
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


@dataclass(frozen=True)
class StaffRef:
    """What another capability needs of a staff account (parking's attendants): never its secrets."""

    id: int
    username: str
    role: str
    active: bool


async def staff_by_username(conn: asyncpg.Connection, username: str) -> StaffRef | None:
    """The account with exactly this username (callers normalise what people type), or None."""
    row = await conn.fetchrow(
        "SELECT id, username, role, active FROM staff_users WHERE username = $1", username
    )
    return StaffRef(**dict(row)) if row else None


async def usernames_by_id(conn: asyncpg.Connection, ids: list[int]) -> dict[int, str]:
    """Id → username for the given accounts, in username order (the database's collation)."""
    rows = await conn.fetch(
        "SELECT id, username FROM staff_users WHERE id = ANY($1::bigint[]) ORDER BY username", ids
    )
    return {r["id"]: r["username"] for r in rows}


async def active_usernames(conn: asyncpg.Connection, *, role: str) -> list[str]:
    """Usernames of the active accounts with this role, in username order."""
    rows = await conn.fetch(
        "SELECT username FROM staff_users WHERE role = $1 AND active ORDER BY username", role
    )
    return [r["username"] for r in rows]


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
    forget_staff_sessions()  # this process's cached sessions end at once (the others hear the trigger)
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
    forget_staff_sessions()
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
    forget_staff_sessions()
    return ended


async def unlock_staff_user(conn: asyncpg.Connection, *, username: str, actor: str) -> None:
    """Failed logins before now no longer slow this account down (per-address limits still apply: they
    belong to the address, not to the account). The failures stay recorded."""
    async with conn.transaction():
        user = await _locked_user(conn, username)
        await conn.execute("UPDATE staff_users SET failures_reset_at = now() WHERE id = $1", user["id"])
        await record_audit(conn, actor=actor, action="staff.unlock", subject=f"staff:{username}")


MAX_ADDRESS_LENGTH = 100


@dataclass(frozen=True)
class AddressFailures:
    address: str
    window_failures: int  # failed logins that count against the address now (window, after any unlock)
    failures_24h: int


_ADDRESS_SQL = """
WITH unlocks AS (
    SELECT address, max(at) AS at FROM login_attempts WHERE username = $2 AND success GROUP BY address
)
SELECT a.address,
       count(*) FILTER (WHERE a.at > greatest(now() - $1::interval, u.at)) AS window_failures,
       count(*) AS failures_24h
  FROM login_attempts a LEFT JOIN unlocks u ON u.address = a.address
 WHERE NOT a.success AND a.at > now() - interval '24 hours'
"""


async def address_failures(
    conn: asyncpg.Connection, *, window_minutes: int = 15, limit: int = 20
) -> list[AddressFailures]:
    """The addresses with the most failed logins in the last 24 h (an attack in progress shows here)."""
    rows = await conn.fetch(
        _ADDRESS_SQL + " GROUP BY a.address ORDER BY window_failures DESC, failures_24h DESC, a.address"
        " LIMIT $3",
        timedelta(minutes=window_minutes),
        ADDRESS_UNLOCK_MARKER,
        limit,
    )
    return [AddressFailures(**dict(r)) for r in rows]


def validate_address(address: str) -> str:
    address = address.strip()
    if not 1 <= len(address) <= MAX_ADDRESS_LENGTH or not address.isprintable():
        raise ValidationFailed(
            f"a client address as the login limits see it, 1–{MAX_ADDRESS_LENGTH} printable characters",
            field="address",
        )
    return address


async def unlock_address(
    conn: asyncpg.Connection, *, address: str, actor: str, window_minutes: int = 15
) -> AddressFailures:
    """Failed logins from this address before now no longer count against it (the per-address limit). The
    failures stay recorded, and accounts keep their own delays. Returns the address's counts before."""
    address = validate_address(address)
    async with conn.transaction():
        # Under the lock logins from this address take, so none is counted half before, half after.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key("login-address", address))
        before = await conn.fetchrow(
            _ADDRESS_SQL + " AND a.address = $3 GROUP BY a.address",
            timedelta(minutes=window_minutes),
            ADDRESS_UNLOCK_MARKER,
            address,
        )
        await conn.execute(
            "INSERT INTO login_attempts (username, address, success) VALUES ($1, $2, true)",
            ADDRESS_UNLOCK_MARKER,
            address,
        )
        state = AddressFailures(**dict(before)) if before else AddressFailures(address, 0, 0)
        await record_audit(
            conn,
            actor=actor,
            action="login.unlock_address",
            subject=f"address:{address}",
            before={"window_failures": state.window_failures, "failures_24h": state.failures_24h},
        )
    return state
