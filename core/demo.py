"""Demo data for `make run` (CITYPAY_DEMO=1): one staff account per role and an agency API token; only into
an empty database or one demo mode filled (claim_demo_database).

Passwords and the token are generated on first load and written to var/demo-logins.json (mode 0600), never
kept in the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence

import asyncpg

from core.auth import create_staff_user
from core.capability import Demo, RealData
from core.db import connect
from core.keys import AppKeys
from core.passwords import hash_password_sync
from core.settings import Settings
from core.tokens import create_api_token

DEMO_STAFF = [
    ("admin", "Quản trị viên (demo)", "admin"),
    ("attendant", "Nguyễn Văn Trông (demo)", "attendant"),
    ("finance", "Trần Thị Kế Toán (demo)", "finance"),
    ("approver", "Lê Văn Duyệt (demo)", "approver"),
]
DEMO_TOKEN_NAME = "demo agency (judicial records)"  # noqa: S105
DEMO_TOKEN_SCOPES = ["payment-requests:read", "payment-requests:write"]
# The demo catalogue's fee codes (payments/demo.py) and the channel its subsidies name, so the README's
# "channel": "vneid" example works; a test checks these still match.
DEMO_TOKEN_FEE_CODES = ["GPLX-DOI", "HT-BANSAO", "LLTP"]
DEMO_TOKEN_CHANNELS = ["vneid"]


class DemoRefused(RuntimeError):
    pass


DEMO_LOCK_KEY = 0x44454D4F  # "DEMO"


async def has_rows(conn: asyncpg.Connection, tables: Sequence[str]) -> tuple[str, ...]:
    """Which of `tables` (names from the caller's own code, never input) hold at least one row."""
    found = []
    for table in tables:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            found.append(table)
    return tuple(found)


async def _core_probe(conn: asyncpg.Connection) -> RealData:
    users = {r["username"] for r in await conn.fetch("SELECT username FROM staff_users")}
    return RealData(
        tables_with_rows=await has_rows(conn, ("staff_users", "api_tokens")),
        looks_like_demo=users <= {u for u, _, _ in DEMO_STAFF},
    )


async def claim_demo_database(conn: asyncpg.Connection, demos: Sequence[Demo] = ()) -> str:
    """Demo data goes only into a database demo mode created: one with the demo_installation marker, or an
    empty one (which gets the marker now). A database holding staff, tokens, banks or payments without the
    marker is refused: an environment slip must never plant known passwords and a simulated bank's key beside
    real money. Each capability's probe reports its own tables (core knows none of theirs). Returns "empty",
    "demo" or "adopted" (a demo database from before the marker: only demo staff, the simulated bank)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK_KEY)
        if await conn.fetchval("SELECT 1 FROM demo_installation"):
            return "demo"
        reports = [await _core_probe(conn)] + [await demo.probe(conn) for demo in demos if demo.probe]
        found = [table for report in reports for table in report.tables_with_rows]
        state = "empty"
        if found:
            if not all(report.looks_like_demo for report in reports):
                raise DemoRefused(
                    "refusing to load demo data: this database holds data demo mode did not create ("
                    + ", ".join(found)
                    + " have rows and it has no demo_installation marker). Demo data brings known passwords "
                    "and a simulated bank's signing key and must never sit beside real money. Unset "
                    "CITYPAY_DEMO to serve this database, or point DATABASE_URL at an empty one."
                )
            state = "adopted"
        await conn.execute("INSERT INTO demo_installation DEFAULT VALUES ON CONFLICT DO NOTHING")
        return state


async def first_admin_hint(dsn: str) -> str | None:
    """Outside demo mode, on a database without staff: how to create the first admin."""
    conn = await connect(dsn)
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM staff_users)"):
            return None
    finally:
        await conn.close()
    return (
        "No staff account yet. Create the first admin (you will be asked for a password):\n"
        "  python main.py create-user <username> --role admin --name '<Full Name>'\n"
        "(Demo data with ready-made logins and a simulated bank is for `make run` / CITYPAY_DEMO=1 only.)"
    )


def _write_private(path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


async def load_demo_data(dsn: str, *, settings: Settings, keys: AppKeys, demos: Sequence[Demo] = ()) -> dict:
    """Each capability brings its own demo data (`Capability.demo`; main.py lists them), so core needs to know
    none of them."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    creds_path = settings.var_dir / "demo-logins.json"
    creds = json.loads(creds_path.read_text()) if creds_path.exists() else {"staff": {}, "token": None}
    conn = await connect(dsn)
    try:
        await claim_demo_database(conn, demos)
        for username, name, role in DEMO_STAFF:
            exists = await conn.fetchval("SELECT id FROM staff_users WHERE username = $1", username)
            password = creds["staff"].get(username)
            if exists and password:
                continue
            password = secrets.token_urlsafe(9)
            if exists:  # the database outlived var/: give the demo account a password we know again
                await conn.execute(
                    "UPDATE staff_users SET password_hash = $2 WHERE id = $1",
                    exists,
                    hash_password_sync(password),
                )
            else:
                await create_staff_user(
                    conn, username=username, display_name=name, role=role, password=password, actor="demo"
                )
            creds["staff"][username] = password
        token_ok = False
        if creds.get("token"):
            prefix = creds["token"][4:12]
            token_ok = bool(
                await conn.fetchval(
                    "SELECT 1 FROM api_tokens WHERE token_prefix = $1 AND revoked_at IS NULL", prefix
                )
            )
        if not token_ok:
            _, creds["token"] = await create_api_token(
                conn,
                name=DEMO_TOKEN_NAME,
                scopes=DEMO_TOKEN_SCOPES,
                fee_codes=DEMO_TOKEN_FEE_CODES,
                channels=DEMO_TOKEN_CHANNELS,
                actor="demo",
            )
        for demo in demos:
            if demo.load is not None:
                await demo.load(conn, settings, keys)
    finally:
        await conn.close()
    _write_private(creds_path, json.dumps(creds, indent=1))
    _write_private(settings.var_dir / "demo-token", creds["token"] + "\n")
    print("demo: staff logins (also in var/demo-logins.json):")
    for username, _, role in DEMO_STAFF:
        print(f"  {role:<10} user {username:<10} password {creds['staff'][username]}")
    print("demo: agency API token in var/demo-token")
    return creds
