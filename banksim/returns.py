"""Payout returns: the receiving bank sends a booked payout back (the account was closed after the payment,
the holder died, the name turned out wrong). The simulator books the return as a transfer the other way,
carrying the payout's end-to-end id, once per payout. No callback is queued — a return is not a QR payment;
the city finds it on its statement, where reconciliation gives it back to disbursements."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from banksim import bank
from core.api import PUBLIC, Routes
from core.appkeys import POOL
from core.errors import Conflict, NotFound

routes = Routes(tags=("bank-simulator",))

# Reasons a receiving bank returns a credit with (ISO 20022 ExternalReturnReason1Code).
ReturnReason = Literal["AC01", "AC04", "AC06", "BE01", "MD07", "MS02"]
RETURN_NARRATIVE = "RETURN"


class PayoutNotReturnable(Conflict):
    slug = "payout-not-returnable"
    title_vi, title_en = "Không thể hoàn khoản chi này", "This payout cannot be returned"


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: ReturnReason = Field(default="AC04", description="Why the receiving bank sends it back")


class ReturnOut(BaseModel):
    idempotency_key: str
    reason_code: str
    bank_txn_id: str
    end_to_end_id: str | None
    amount: int
    booked_at: str
    replayed: bool


async def return_payout(pool: asyncpg.Pool, key: str, reason_code: str) -> dict[str, Any]:
    """Book the return of the booked payout `key`; asking again answers the first return."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        payout = await conn.fetchrow(
            """SELECT p.status, p.amount, t.debit_account_id, t.credit_account_id, t.end_to_end_id
                 FROM payouts p LEFT JOIN transfers t ON t.id = p.transfer_id
                WHERE p.idempotency_key = $1""",
            key,
        )
        if payout is None:
            raise NotFound("no payout was received with this Idempotency-Key", field="key")
        if payout["status"] != "booked":
            raise PayoutNotReturnable("only a booked payout can be returned", field="key")
        replayed = await _return_record(conn, key)
        if replayed is not None:
            return {**replayed, "replayed": True}
        accounts = await conn.fetch(
            "SELECT * FROM accounts WHERE id = ANY($1::bigint[])",
            [payout["debit_account_id"], payout["credit_account_id"]],
        )
        by_id = {a["id"]: a for a in accounts}
        e2e = payout["end_to_end_id"]
        transfer = await bank._book_transfer(  # the simulator's one booking path, both legs at once
            conn,
            kind="payout_return",
            debit=by_id[payout["credit_account_id"]],  # the beneficiary's account gives it back
            credit=by_id[payout["debit_account_id"]],  # to the city's account it came from
            amount=payout["amount"],
            narrative=f"{RETURN_NARRATIVE} {reason_code} {e2e or key}",
            end_to_end_id=e2e,
        )
        await conn.execute(
            "INSERT INTO payout_returns (idempotency_key, transfer_id, reason_code) VALUES ($1, $2, $3)",
            key,
            transfer["id"],
            reason_code,
        )
        record = await _return_record(conn, key)
    assert record is not None  # written in this transaction
    return {**record, "replayed": False}


async def _return_record(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT r.idempotency_key, r.reason_code, t.bank_txn_id, t.end_to_end_id, t.amount, t.booked_at
             FROM payout_returns r JOIN transfers t ON t.id = r.transfer_id
            WHERE r.idempotency_key = $1""",
        key,
    )
    if row is None:
        return None
    return {**dict(row), "booked_at": bank.booked_at_text(row["booked_at"])}


@routes.post(
    "/sim/api/payouts/{key:[!-~]{1,255}}/return",
    access=PUBLIC,
    summary="Return a booked payout to the city's account (as the receiving bank would), once per payout",
    body=ReturnIn,
    response=ReturnOut,
    responses={404: "No payout with this key", 409: "The payout was refused, so there is nothing to return"},
)
async def return_payout_api(request: web.Request, body: ReturnIn) -> web.Response:
    record = await return_payout(request.app[POOL], request.match_info["key"], body.reason_code)
    return web.json_response(record, status=200 if record["replayed"] else 201)
