"""The banking apps a citizen can open from the pay page (issue 12, point 8), kept as data (table
pay_bank_apps, migration 0019) because banks join and leave VietQR's deeplink list: listed, added, edited,
disabled and removed by an admin, every change audited. Also the deeplink itself:

    https://dl.vietqr.io/pay?app=<app id>&ba=<account>@<bank>&am=<amount>&tn=<note>&bn=<name>&url=<return>

Every value is percent-encoded; the "@" that joins account and bank stays literal and the return URL keeps
its ":" and "/" (VietQR's documentation asks for both), anything else in them is encoded. <bank> is the
collecting bank's BIN (VietQR accepts a BIN or the bank's short code)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from core.audit import record_audit
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from core.text import FreeText
from payments.catalogue import changed_fields, jsonable, mapped_transaction

DEEPLINK_BASE = "https://dl.vietqr.io/pay"
APP_ID = r"^[a-z0-9][a-z0-9-]{0,31}$"

AppId = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    Field(pattern=APP_ID, description="VietQR's appId, e.g. vcb, icb, vib-2"),
]
DisplayName = Annotated[FreeText, StringConstraints(min_length=1, max_length=60)]
Bin = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
SortOrder = Annotated[int, Field(ge=0, le=10_000)]

for _name, _problem, _field, _detail, _key in (
    ("pay_bank_apps_pkey", Conflict, "app_id", "an app with this id exists", "taken"),
    ("pay_bank_apps_bank_bin_fkey", ValidationFailed, "bank_bin", "unknown bank BIN", "no_bank"),
):
    map_constraint(_name, _problem, _field, _detail, message=f"admin.bank_apps.{_key}")


class BankAppIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_id: AppId
    display_name: DisplayName
    bank_bin: Bin
    sort_order: SortOrder = 100


class BankAppChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: DisplayName | None = None
    bank_bin: Bin | None = None
    sort_order: SortOrder | None = None
    enabled: bool | None = None


_SELECT = """SELECT a.app_id, a.display_name, a.bank_bin, b.short_name AS bank_name, a.sort_order, a.enabled,
       a.updated_at
  FROM pay_bank_apps a JOIN banks b ON b.bin = a.bank_bin"""


async def list_apps(
    db: asyncpg.Connection | asyncpg.Pool, *, enabled_only: bool = False
) -> list[dict[str, Any]]:
    where = " WHERE a.enabled" if enabled_only else ""
    rows = await db.fetch(_SELECT + where + " ORDER BY a.sort_order, a.display_name, a.app_id")
    return [dict(r) for r in rows]


async def _app(conn: asyncpg.Connection, app_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SELECT + " WHERE a.app_id = $1" + (" FOR UPDATE OF a" if lock else ""), app_id)
    return _written(dict(row)) if row else None


def _written(row: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of an app: its own fields, not the joined bank name or the timestamp."""
    return {k: row[k] for k in ("app_id", "display_name", "bank_bin", "sort_order", "enabled")}


def _not_found() -> NotFound:
    return NotFound("no banking app with this id", field="app_id", message="admin.bank_apps.not_found")


async def create_app(conn: asyncpg.Connection, app: BankAppIn, *, actor: str) -> dict[str, Any]:
    async with mapped_transaction(conn):
        await conn.execute(
            "INSERT INTO pay_bank_apps (app_id, display_name, bank_bin, sort_order) VALUES ($1, $2, $3, $4)",
            app.app_id,
            app.display_name,
            app.bank_bin,
            app.sort_order,
        )
        after = await _app(conn, app.app_id)
        await record_audit(
            conn, actor=actor, action="bank_app.create", subject=f"bank_app:{app.app_id}", after=after
        )
    assert after is not None
    return after


async def update_app(
    conn: asyncpg.Connection, app_id: str, change: BankAppChange, *, actor: str
) -> dict[str, Any]:
    values = changed_fields(change, nullable=set())
    async with mapped_transaction(conn):
        before = await _app(conn, app_id, lock=True)
        if before is None:
            raise _not_found()
        new = {**before, **values}
        await conn.execute(
            """UPDATE pay_bank_apps SET display_name = $2, bank_bin = $3, sort_order = $4, enabled = $5,
                   updated_at = now()
             WHERE app_id = $1""",
            app_id,
            new["display_name"],
            new["bank_bin"],
            new["sort_order"],
            new["enabled"],
        )
        after = await _app(conn, app_id)
        if after != before:
            action = "bank_app.update"
            if set(values) == {"enabled"}:
                action = "bank_app.enable" if new["enabled"] else "bank_app.disable"
            await record_audit(
                conn, actor=actor, action=action, subject=f"bank_app:{app_id}", before=before, after=after
            )
    assert after is not None
    return after


async def remove_app(conn: asyncpg.Connection, app_id: str, *, actor: str) -> dict[str, Any]:
    async with mapped_transaction(conn):
        before = await _app(conn, app_id, lock=True)
        if before is None:
            raise _not_found()
        await conn.execute("DELETE FROM pay_bank_apps WHERE app_id = $1", app_id)
        await record_audit(
            conn, actor=actor, action="bank_app.remove", subject=f"bank_app:{app_id}", before=jsonable(before)
        )
    return before


# The deeplink --------------------------------------------------------------------------------------------


def _enc(value: str, safe: str = "") -> str:
    return quote(value, safe=safe)


def deeplink(
    app_id: str, *, account: str, bank: str, amount: int, note: str, name: str, return_url: str
) -> str:
    """VietQR's app deeplink for one transfer. `amount` is whole đồng (the amount due now)."""
    return (
        f"{DEEPLINK_BASE}?app={_enc(app_id)}"
        f"&ba={_enc(account)}@{_enc(bank)}"
        f"&am={int(amount)}"
        f"&tn={_enc(note)}"
        f"&bn={_enc(name)}"
        f"&url={_enc(return_url, safe=':/')}"
    )
