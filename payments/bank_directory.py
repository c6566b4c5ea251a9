"""The bank directory (NAPAS BINs) that collection accounts rest on: listed, renamed, deactivated (never while
an active collection account uses the bank), every change audited."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from core.audit import record_audit
from core.errors import Conflict, NotFound
from payments.catalogue import Name, ShortName, changed_fields, mapped_transaction


class BankChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    short_name: ShortName | None = None
    name: Name | None = None
    active: bool | None = None


_BANK_SELECT = "SELECT bin, short_name, name, active, updated_at FROM banks"


async def bank_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_BANK_SELECT + " ORDER BY short_name, bin")]


async def update_bank(
    conn: asyncpg.Connection, bin_: str, change: BankChange, *, actor: str
) -> dict[str, Any]:
    values = changed_fields(change, nullable=set())
    async with mapped_transaction(conn):
        row = await conn.fetchrow(_BANK_SELECT + " WHERE bin = $1 FOR UPDATE", bin_)
        if row is None:
            raise NotFound("no bank with this BIN", field="bin")
        before = dict(row)
        new = {**before, **values}
        if before["active"] and not new["active"]:
            in_use = await conn.fetch(
                "SELECT code FROM collection_accounts WHERE bin = $1 AND active ORDER BY code", bin_
            )
            if in_use:
                codes = ", ".join(r["code"] for r in in_use)
                raise Conflict(
                    f"active collection accounts use this bank ({codes}); deactivate them first",
                    field="active",
                )
        if {k: new[k] for k in values} == {k: before[k] for k in values}:
            return before
        after = dict(
            await conn.fetchrow(
                "UPDATE banks SET short_name = $2, name = $3, active = $4, updated_at = now() WHERE bin = $1 "
                "RETURNING bin, short_name, name, active, updated_at",
                bin_,
                new["short_name"],
                new["name"],
                new["active"],
            )
        )
        drop = {"updated_at"}
        await record_audit(
            conn,
            actor=actor,
            action="bank.update",
            subject=f"bin:{bin_}",
            before={k: v for k, v in before.items() if k not in drop},
            after={k: v for k, v in after.items() if k not in drop},
        )
    return after
