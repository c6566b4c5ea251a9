"""The simulator's operator changes an account's standing, as a bank does when a customer closes an account,
a court blocks it, or a death is registered. Demos and tests use it to make a verified beneficiary's account
refuse the next payout (AC04 closed, AC06 blocked, MD07 deceased) after the city verified it."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from banksim.bank import STATUS_REASON, AccountNotFound
from core.api import PUBLIC, Routes
from core.appkeys import POOL

routes = Routes(tags=("bank-simulator",))


class AccountStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "closed", "blocked", "deceased"]


class AccountStatusOut(BaseModel):
    bin: str
    account: str
    status: str
    previous_status: str
    reason_code: str | None


@routes.post(
    "/sim/api/accounts/{bin:[0-9]{6}}/{account:[0-9]{6,19}}/status",
    access=PUBLIC,
    summary="Set an account's standing (open, closed, blocked, deceased); payouts to it follow it",
    body=AccountStatusIn,
    response=AccountStatusOut,
    responses={404: "Unknown account"},
)
async def set_account_status(request: web.Request, body: AccountStatusIn) -> web.Response:
    bin_, number = request.match_info["bin"], request.match_info["account"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status, kind FROM accounts WHERE bin = $1 AND account_number = $2 FOR UPDATE",
            bin_,
            number,
        )
        if row is None or row["kind"] == "city":  # the city's own account is not the operator's to close
            raise AccountNotFound(f"no customer account {number} at bank {bin_}", field="account")
        await conn.execute("UPDATE accounts SET status = $2 WHERE id = $1", row["id"], body.status)
    return web.json_response(
        {
            "bin": bin_,
            "account": number,
            "status": body.status,
            "previous_status": row["status"],
            "reason_code": STATUS_REASON.get(body.status),
        }
    )
