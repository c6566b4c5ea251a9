"""The simulator's JSON API under /sim/api/… (thin handlers; the bank's rules live in banksim/bank.py).

Everything is public: the simulator is a test and demo tool bound to 127.0.0.1, playing a bank's systems.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from banksim import bank, statements
from banksim.appkeys import CONFIG, DELIVERER
from banksim.deliveries import delivery_json, delivery_with_attempts, list_deliveries, redeliver
from banksim.qr import InvalidQR, read_payload
from core.api import PUBLIC, Routes, build_openapi
from core.appkeys import POOL, REGISTRY
from core.errors import NotFound, ValidationFailed
from core.idempotency import idempotency_key
from core.money import LOCAL_TZ

routes = Routes(tags=("bank-simulator",))
VERSION = "0.1.0"
_BIN = "{bin:[0-9]{6}}"
_ACCOUNT = "{account:[0-9]{6,19}}"

Fault = Literal["duplicate", "delay", "drop", "bad_signature", "wrong_amount"]
StandingFault = Literal[
    "none", "duplicate", "delay", "drop", "bad_signature", "wrong_amount", "payout_timeout"
]
FAULT_HEADER = "X-Banksim-Fault"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayIn(_Strict):
    payload: str = Field(min_length=1, max_length=512, description="The VietQR payload as scanned")
    payer_account: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,19}$",
        description="One of the simulator's own accounts (default NGUYEN VAN AN)",
    )
    amount: int | None = Field(
        default=None, ge=1, le=bank.MAX_AMOUNT, description="Only for a static QR without an amount"
    )
    fault: Fault | None = Field(
        default=None, description="Inject a fault into this payment (overrides the standing mode)"
    )
    delay_seconds: int | None = Field(
        default=None, ge=0, le=86_400, description="For fault=delay (default 10)"
    )


class AccountNameOut(BaseModel):
    bin: str
    account: str
    name: str | None = Field(description="Only for an open account")
    status: Literal["open", "closed", "blocked", "deceased"]
    reason_code: str | None = Field(
        description="ISO reason a payment to it would be refused with: AC04, AC06, MD07"
    )
    id_match: bool | None = Field(
        default=None,
        description="Only when asked with ?national_id=: whether the holder has that CCCD (null: the bank "
        "holds none)",
    )


class NameInquiryQuery(_Strict):
    national_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{12}$",
        description="The holder's CCCD, to confirm (never answered back)",
    )


class FaultModeIn(_Strict):
    fault: StandingFault
    delay_seconds: int = Field(default=10, ge=0, le=86_400)
    count: int | None = Field(
        default=None, ge=1, description="Apply to this many operations, then clear (default: until cleared)"
    )


class FaultModeOut(BaseModel):
    fault: str
    delay_seconds: int
    remaining: int | None
    updated_at: dt.datetime


class PayoutIn(_Strict):
    to_bin: str = Field(pattern=r"^[0-9]{6}$")
    to_account: str = Field(pattern=r"^[0-9A-Za-z]{1,19}$")
    amount: int = Field(ge=1, le=bank.MAX_AMOUNT)
    narrative: str = Field(min_length=1, max_length=210, pattern=r"^[^\x00-\x1f\x7f]+$")
    beneficiary_name: str | None = Field(
        default=None,
        max_length=140,
        description="When given, a mismatch with the holder's name is refused with BE01",
    )


class PayoutOut(BaseModel):
    idempotency_key: str
    status: Literal["booked", "rejected"]
    reason_code: str | None
    reason: str | None
    bank_txn_id: str | None
    to_bin: str
    to_account: str
    beneficiary_name: str | None
    amount: int
    narrative: str
    booked_at: str | None
    received_at: str


class StatementQuery(_Strict):
    date: dt.date | None = Field(default=None, description="Business day in Asia/Ho_Chi_Minh (default today)")
    format: Literal["camt053", "mt940", "csv"] = "camt053"


class DeliveriesQuery(_Strict):
    state: Literal["pending", "held", "delivered", "rejected", "failed"] | None = None
    bank_txn_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=500)


def _account_json(r: Any) -> dict[str, Any]:
    return {
        "bin": r["bin"],
        "account": r["account_number"],
        "name": r["holder_name"],
        "kind": r["kind"],
        "status": r["status"],
        "balance": r["balance"],
    }


def _party_json(r: Any) -> dict[str, Any]:
    return {"bin": r["bin"], "account": r["account_number"], "name": r["holder_name"]}


def payment_json(payment: bank.Payment, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    t = payment.transfer
    return {
        "bank_txn_id": t["bank_txn_id"],
        "amount": t["amount"],
        "qr_amount": t["qr_amount"],
        "currency": "VND",
        "booked_at": bank.booked_at_text(t["booked_at"]),
        "narrative": t["narrative"],
        "purpose": t["end_to_end_id"],
        "payer": _party_json(payment.payer),
        "beneficiary": _party_json(payment.beneficiary),
        "fault": payment.fault.name,
        "deliveries": deliveries,
    }


async def submit_payment(request: web.Request, body: PayIn) -> tuple[bank.Payment, list[dict[str, Any]]]:
    """Shared by the API and the banking-app page: read the QR, book, queue and wake the deliverer."""
    try:
        qr = read_payload(body.payload)
    except InvalidQR as exc:
        raise bank.InvalidQRPayload(str(exc), field="payload") from None
    payment = await bank.pay_qr(
        request.app[POOL],
        request.app[CONFIG],
        qr,
        payer_account=body.payer_account,
        typed_amount=body.amount,
        fault=body.fault,
        delay_seconds=body.delay_seconds,
    )
    if payment.delivery_ids:
        request.app[DELIVERER].wakeup.set()
    async with request.app[POOL].acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM deliveries WHERE id = ANY($1::bigint[]) ORDER BY id", payment.delivery_ids
        )
    return payment, [delivery_json(r) for r in rows]


# Accounts -------------------------------------------------------------------------------------------------


@routes.get("/sim/api/accounts", access=PUBLIC, summary="All accounts the simulator holds, with balances")
async def list_sim_accounts(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await bank.list_accounts(conn)
    return web.json_response({"accounts": [_account_json(r) for r in rows]})


@routes.get(
    f"/sim/api/accounts/{_BIN}/{_ACCOUNT}/name",
    access=PUBLIC,
    summary="Account-name inquiry: the holder's name of an open account; closed/blocked/deceased say so",
    query=NameInquiryQuery,
    response=AccountNameOut,
    responses={404: "Unknown account (reason_code AC01)"},
)
async def account_name_inquiry(request: web.Request, query: NameInquiryQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        answer = await bank.account_name(
            conn, request.match_info["bin"], request.match_info["account"], query.national_id
        )
    return web.json_response(answer)


# QR payments ----------------------------------------------------------------------------------------------


@routes.post(
    "/sim/api/payments",
    access=PUBLIC,
    summary="Pay a VietQR payload from a customer's account; a credit to the city queues a signed callback",
    body=PayIn,
    status=201,
    responses={404: "Unknown payer account", 422: "Invalid QR, or the bank refused (reason_code)"},
)
async def pay_qr_payload(request: web.Request, body: PayIn) -> web.Response:
    payment, deliveries = await submit_payment(request, body)
    return web.json_response(payment_json(payment, deliveries), status=201)


@routes.get(
    "/sim/api/transfers/{bank_txn_id:[!-~]{1,64}}",
    access=PUBLIC,
    summary="One booked transfer by its bank transaction id",
)
async def get_transfer(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        t = await bank.transfer_by_txn_id(conn, request.match_info["bank_txn_id"])
    if t is None:
        raise NotFound("no such transfer", field="bank_txn_id")
    return web.json_response(
        {
            "bank_txn_id": t["bank_txn_id"],
            "kind": t["kind"],
            "amount": t["amount"],
            "qr_amount": t["qr_amount"],
            "booked_at": bank.booked_at_text(t["booked_at"]),
            "narrative": t["narrative"],
            "end_to_end_id": t["end_to_end_id"],
            "fault": t["fault"],
            "debit": {"bin": t["debit_bin"], "account": t["debit_account"], "name": t["debit_name"]},
            "credit": {"bin": t["credit_bin"], "account": t["credit_account"], "name": t["credit_name"]},
        }
    )


# Deliveries -----------------------------------------------------------------------------------------------


@routes.get(
    "/sim/api/deliveries", access=PUBLIC, summary="Callback deliveries, newest first", query=DeliveriesQuery
)
async def get_deliveries(request: web.Request, query: DeliveriesQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await list_deliveries(
            conn, state=query.state, bank_txn_id=query.bank_txn_id, limit=query.limit
        )
    return web.json_response({"deliveries": [delivery_json(r) for r in rows]})


def _delivery_id(request: web.Request) -> int:
    raw = request.match_info["delivery_id"]
    if len(raw) > 18:
        raise NotFound("no such delivery", field="delivery_id")
    return int(raw)


@routes.get(
    "/sim/api/deliveries/{delivery_id:[0-9]+}",
    access=PUBLIC,
    summary="One delivery with every attempt (status code, answer, error)",
)
async def get_delivery(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response(await delivery_with_attempts(conn, _delivery_id(request)))


@routes.post(
    "/sim/api/deliveries/{delivery_id:[0-9]+}/redeliver",
    access=PUBLIC,
    summary="Send a held (drop), rejected or failed callback again, correctly signed",
    responses={409: "The delivery is pending or delivered"},
)
async def redeliver_delivery(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        out = await redeliver(conn, _delivery_id(request))
    request.app[DELIVERER].wakeup.set()
    return web.json_response(out)


# Faults ---------------------------------------------------------------------------------------------------


def _fault_json(row: Any) -> dict[str, Any]:
    return {
        "fault": row["fault"] or "none",
        "delay_seconds": row["delay_seconds"],
        "remaining": row["remaining"],
        "updated_at": row["updated_at"].isoformat(),
    }


@routes.get("/sim/api/faults", access=PUBLIC, summary="The standing fault mode", response=FaultModeOut)
async def get_fault_mode(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response(_fault_json(await bank.fault_mode(conn)))


@routes.post(
    "/sim/api/faults",
    access=PUBLIC,
    summary="Set the standing fault mode for the next payments (payouts for payout_timeout); none clears",
    body=FaultModeIn,
    response=FaultModeOut,
)
async def set_fault_mode(request: web.Request, body: FaultModeIn) -> web.Response:
    fault = None if body.fault == "none" else body.fault
    async with request.app[POOL].acquire() as conn:
        row = await bank.set_fault_mode(conn, fault, delay_seconds=body.delay_seconds, remaining=body.count)
    return web.json_response(_fault_json(row))


# Payouts --------------------------------------------------------------------------------------------------


@routes.post(
    "/sim/api/payouts",
    access=PUBLIC,
    summary="Pay out from the city's account, once per Idempotency-Key; refusals carry an ISO reason code",
    body=PayoutIn,
    response=PayoutOut,
    idempotent=True,
    responses={409: "Idempotency-Key used with another body", 504: "payout_timeout fault: booked, no answer"},
)
async def create_payout(request: web.Request, body: PayoutIn) -> web.Response:
    key = idempotency_key(request)
    fault = request.headers.get(FAULT_HEADER)
    if fault is not None and fault not in bank.PAYOUT_FAULTS:
        raise ValidationFailed(f"{FAULT_HEADER} may be {', '.join(bank.PAYOUT_FAULTS)}", field=FAULT_HEADER)
    outcome = await bank.make_payout(
        request.app[POOL], request.app[CONFIG], key=key, body=body.model_dump(exclude_none=True), fault=fault
    )
    if outcome.timeout:
        # Booked and committed, but the caller hears nothing useful: it must inquire (GET …/payouts/{key}).
        return web.Response(status=504)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return web.json_response(outcome.record, headers=headers)


@routes.get(
    "/sim/api/payouts/{key:[!-~]{1,255}}",
    access=PUBLIC,
    summary="Payout status inquiry by idempotency key (404: never received, safe to send again)",
    response=PayoutOut,
)
async def get_payout(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        record = await bank.payout_record(conn, request.match_info["key"])
    if record is None:
        raise NotFound("no payout was received with this Idempotency-Key", field="key")
    return web.json_response(record)


# Statements -----------------------------------------------------------------------------------------------


@routes.get(
    f"/sim/api/statements/{_ACCOUNT}",
    access=PUBLIC,
    summary="The day's statement of one of this bank's accounts: camt.053.001.02, MT940 or CSV",
    query=StatementQuery,
    produces="application/xml",
)
async def get_statement(request: web.Request, query: StatementQuery) -> web.Response:
    config = request.app[CONFIG]
    day = query.date or dt.datetime.now(LOCAL_TZ).date()
    async with request.app[POOL].acquire() as conn:
        statement = await statements.load_statement(conn, config.bin, request.match_info["account"], day)
    filename = f"{statement.account}-{day:%Y%m%d}.{statements.EXTENSIONS[query.format]}"
    return web.Response(
        text=statements.render(statement, query.format),
        content_type=statements.CONTENT_TYPES[query.format],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Operations -----------------------------------------------------------------------------------------------


@routes.get("/healthz", access=PUBLIC, summary="Liveness", tags=("operations",))
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "banksim"})


@routes.get(
    "/openapi.json", access=PUBLIC, summary="This simulator's OpenAPI 3.1 document", tags=("operations",)
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(
        build_openapi(request.app[REGISTRY], title="citypay bank simulator", version=VERSION)
    )
