"""Payment requests: issue (with subsidies and a VietQR payload), cancel, expire. Settlement of money received
lives in settlement.py; both notify listeners (the pay page) through PostgreSQL NOTIFY."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.idempotency import KeyClaim
from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.text import InvisibleCharacter, clean_text
from ledger import accounts, post_entry
from payments.creation_groups import REQUEST_COLUMNS, CreationGroups
from payments.fee_terms import FeeTerms, active_fee_sql, programme_may_apply_sql
from payments.receipts import issue_receipt
from payments.reference import new_reference
from payments.vietqr import VietQR, build_payload
from payments.vocabulary import RequestKind

STATUS_CHANNEL = "payment_request_status"
KINDS = tuple(RequestKind)
CANCEL_REASON_MAX = 500


class FeeNotAvailable(ValidationFailed):
    slug = "fee-not-available"
    title_vi, title_en = "Khoản phí không tồn tại hoặc chưa/không còn áp dụng", "Fee unknown or not active"


class RequestNotPending(Conflict):
    slug = "payment-request-not-pending"
    title_vi, title_en = "Yêu cầu thanh toán không còn chờ thanh toán", "Payment request is no longer pending"


class FeeCodeNotAllowed(Forbidden):
    slug = "fee-code-not-allowed"
    title_vi, title_en = "Mã truy cập không được thu khoản phí này", "This token may not charge this fee"


class ChannelNotAllowed(Forbidden):
    slug = "channel-not-allowed"
    title_vi, title_en = "Mã truy cập không được khai kênh này", "This token may not assert this channel"


@dataclass(frozen=True)
class NewRequest:
    kind: str
    fee_code: str | None
    payer_reference: str | None = None
    channel: str | None = None
    expires_in: timedelta | None = None
    # For kind parking (issued by the parking package): amount and purpose come from the quote.
    amount: int | None = None
    purpose_vi: str | None = None
    purpose_en: str | None = None
    revenue_account: str | None = None
    collection_account_code: str | None = None
    # (bin, account number, holder) of that account when the caller has just read it, active: not read again.
    collection_account: tuple[str, str, str] | None = None


def check_token_may_issue(
    new: NewRequest, *, fee_codes: frozenset[str] | None, channels: frozenset[str]
) -> None:
    """An agency token charges only the fees it is bound to, and asserts only the channels it is bound to: a
    channel can unlock a subsidy paid from the city budget, so it is never taken from the request body alone.
    A channel the token may not assert is refused (403) rather than ignored, so the agency learns at once."""
    if new.fee_code not in (fee_codes or frozenset()):
        allowed = ", ".join(sorted(fee_codes or ())) or "none"
        raise FeeCodeNotAllowed(f"this token may charge: {allowed}", field="fee_code")
    if new.channel is not None and new.channel not in channels:
        allowed = ", ".join(sorted(channels)) or "none"
        raise ChannelNotAllowed(f"this token may assert the channels: {allowed}", field="channel")


def clean_cancel_reason(reason: str) -> str:
    """NFKC, trimmed; invisible and control characters refused; 1–500 characters."""
    try:
        text = clean_text(reason)
    except InvisibleCharacter as exc:
        raise ValidationFailed(str(exc), field="reason") from None
    if not 1 <= len(text) <= CANCEL_REASON_MAX:
        raise ValidationFailed(f"say why, in 1–{CANCEL_REASON_MAX} characters", field="reason")
    return text


def business_date_of(moment: datetime) -> date:
    """The business day of a moment is its calendar date in Hà Nội."""
    return moment.astimezone(LOCAL_TZ).date()


async def notify_status(conn: asyncpg.Connection, reference: str) -> None:
    # Delivered at commit, so listeners never see a state that was rolled back.
    await conn.execute("SELECT pg_notify($1, $2)", STATUS_CHANNEL, reference)


# One round trip for a fee's terms and its subsidy. The programme row is locked (FOR UPDATE), so concurrent
# issuers queue on it and PostgreSQL re-checks the budget condition on the row version it finally locks: the
# cap is never overrun (a CHECK constraint backs that up). The caller's transaction gives the subsidy back if
# the request is not created after all.
_FEE_TERMS_WITH_SUBSIDY = f"""
WITH f AS (
    SELECT f.amount, f.name_vi, f.name_en, f.revenue_account, c.bin, c.account_number, c.holder_name
      FROM fee_catalogue f JOIN collection_accounts c ON c.id = f.collection_account_id
     WHERE {active_fee_sql("$1", "$3")}),
p AS (
    SELECT sp.code, LEAST(sp.per_request, f.amount) AS share
      FROM subsidy_programmes sp, f
     WHERE {programme_may_apply_sql("$1", "$2", "$3")}
       AND sp.budget_used + LEAST(sp.per_request, f.amount) <= sp.budget_cap
     ORDER BY sp.valid_until, sp.code
     LIMIT 1
     FOR UPDATE OF sp),
u AS (
    UPDATE subsidy_programmes sp SET budget_used = sp.budget_used + p.share
      FROM p WHERE sp.code = p.code AND sp.budget_used + p.share <= sp.budget_cap
    RETURNING sp.code, p.share)
SELECT f.*, u.code AS subsidy_code, COALESCE(u.share, 0) AS subsidy FROM f LEFT JOIN u ON true"""


async def _fee_terms(conn: asyncpg.Connection, new: NewRequest, now: datetime) -> dict:
    """The amount, purpose and collection account of a new request, and the subsidy taken for it."""
    if new.kind == "service_fee":
        fee = await conn.fetchrow(_FEE_TERMS_WITH_SUBSIDY, new.fee_code, new.channel, now)
        if fee is None:
            raise FeeNotAvailable(f"no active fee with code {new.fee_code!r}", field="fee_code")
        return {
            "fee_amount": fee["amount"],
            "purpose_vi": fee["name_vi"],
            "purpose_en": fee["name_en"],
            "revenue_account": fee["revenue_account"],
            "bin": fee["bin"],
            "account": fee["account_number"],
            "holder": fee["holder_name"],
            "subsidy_code": fee["subsidy_code"],
            "subsidy": fee["subsidy"],
        }
    account: Mapping[str, Any] | None
    if new.collection_account is not None:
        account = _given_account(new.collection_account)
    else:
        account = await conn.fetchrow(
            "SELECT bin, account_number, holder_name FROM collection_accounts WHERE code = $1 AND active",
            new.collection_account_code,
        )
    return _given_terms(new, account)


def _given_account(account: tuple[str, str, str]) -> dict[str, str]:
    """NewRequest.collection_account as the collection_accounts row it was read from."""
    return dict(zip(("bin", "account_number", "holder_name"), account, strict=True))


def _refuse_over_cap(terms: Mapping[str, Any], amount_cap: int) -> None:
    if terms["fee_amount"] > amount_cap:
        raise ValidationFailed(f"amount exceeds the cap of {amount_cap} đồng", field="amount")


def _given_terms(new: NewRequest, account: Mapping[str, Any] | None) -> dict:
    """The terms of a request whose caller gives them all (a parking exit): its collection account `account`
    (bin, account_number, holder_name; None: not active)."""
    if account is None or not new.amount or not new.revenue_account:
        raise ValidationFailed(
            "a parking request needs an amount, a revenue account and a collection account"
        )
    return {
        "fee_amount": new.amount,
        "purpose_vi": new.purpose_vi,
        "purpose_en": new.purpose_en,
        "revenue_account": new.revenue_account,
        "bin": account["bin"],
        "account": account["account_number"],
        "holder": account["holder_name"],
        "subsidy_code": None,
        "subsidy": 0,
    }


async def issue_payment_request(
    conn: asyncpg.Connection,
    keys: AppKeys,
    new: NewRequest,
    *,
    created_by: str,
    amount_cap: int,
    default_expiry: timedelta,
    now: datetime | None = None,
) -> Mapping[str, Any]:
    """Create a request (one transaction), with the bank's name for the answer. A fully subsidised request
    settles at once, without a QR."""
    now = now or datetime.now(UTC)
    async with own_or_joined_transaction(conn):
        terms = await _fee_terms(conn, new, now)
        _refuse_over_cap(terms, amount_cap)  # raising rolls back the subsidy just taken
        columns = _request_columns(new, terms, created_by=created_by, now=now, default_expiry=default_expiry)
        record = await conn.fetchrow(
            f"""WITH pr AS ({_INSERT_REQUEST} RETURNING *)
               SELECT pr.*, b.short_name AS bank_name FROM pr JOIN banks b ON b.bin = pr.collection_bin""",
            *(columns[name] for name, _ in REQUEST_COLUMNS),
        )
        if record["amount_due"] == 0:
            record = await _settle_fully_subsidised(conn, keys, record, now)
    return record


@dataclass(frozen=True)
class PreparedRequest:
    """A request with terms its caller gives in full (a parking exit, with the collection account just read),
    ready to insert in the caller's own statement with `request_insert_when_sql`: the caller's change and the
    request then commit in one round trip, or neither does."""

    columns: Mapping[str, Any]

    @property
    def id(self) -> uuid.UUID:
        return self.columns["id"]

    @property
    def record(self) -> dict[str, Any]:
        """The row as the insert writes it (what issue_payment_request would return, but the bank's name)."""
        return {**self.columns, **_FRESH_DEFAULTS}

    def params(self) -> list[Any]:
        """The values for request_insert_when_sql, in order."""
        return [self.columns[name] for name, _ in REQUEST_COLUMNS]


def prepare_request(
    new: NewRequest, *, created_by: str, amount_cap: int, default_expiry: timedelta, now: datetime
) -> PreparedRequest:
    """The request `new` (its amount, revenue account and active collection account given), checked as
    issue_payment_request checks it; nothing is written."""
    if new.kind == "service_fee" or new.collection_account is None:
        raise ValueError("prepare_request takes a request whose terms are given (kind parking)")
    terms = _given_terms(new, _given_account(new.collection_account))
    _refuse_over_cap(terms, amount_cap)
    return PreparedRequest(
        _request_columns(new, terms, created_by=created_by, now=now, default_expiry=default_expiry)
    )


def request_insert_when_sql(first: int, condition: str) -> str:
    """`INSERT INTO payment_requests …` of a PreparedRequest whose params() start at ${first}, for a CTE of
    the caller's statement: the row is inserted only when `condition` holds; it RETURNING id."""
    values = ", ".join(f"${first + n}::{kind}" for n, (_, kind) in enumerate(REQUEST_COLUMNS))
    return (
        f"INSERT INTO payment_requests ({', '.join(name for name, _ in REQUEST_COLUMNS)}) "
        f"SELECT {values} WHERE {condition} RETURNING id"
    )


def _request_columns(
    new: NewRequest, terms: Mapping[str, Any], *, created_by: str, now: datetime, default_expiry: timedelta
) -> dict[str, Any]:
    """The new row's columns (REQUEST_COLUMNS, by name) from a fee's terms (as _fee_terms gives them)."""
    subsidy_code, subsidy = terms["subsidy_code"], terms["subsidy"]
    due = terms["fee_amount"] - subsidy
    reference = new_reference()
    payload = None
    if due > 0:
        qr = VietQR(bin=terms["bin"], account=terms["account"], amount=due, purpose=reference)
        payload = build_payload(qr)
    return {
        "id": uuid.uuid4(),
        "reference": reference,
        "kind": new.kind,
        "fee_code": new.fee_code,
        "purpose_vi": terms["purpose_vi"],
        "purpose_en": terms["purpose_en"],
        "payer_reference": new.payer_reference,
        "channel": new.channel,
        "fee_amount": terms["fee_amount"],
        "subsidy_code": subsidy_code,
        "subsidy_amount": subsidy,
        "amount_due": due,
        "revenue_account": terms["revenue_account"],
        "collection_bin": terms["bin"],
        "collection_account": terms["account"],
        "collection_holder": terms["holder"],
        "qr_payload": payload,
        "created_by": created_by,
        "created_at": now,
        "expires_at": now + (new.expires_in or default_expiry),
    }


# What the payment_requests row holds right after its insert, beyond the inserted columns (their defaults).
_FRESH_DEFAULTS = {
    "amount_received": 0,
    "status": "pending",
    "settled_at": None,
    "closed_at": None,
    "cancelled_by": None,
    "cancel_reason": None,
}


async def issue_in_group(
    groups: CreationGroups,
    terms: FeeTerms,
    new: NewRequest,
    *,
    created_by: str,
    amount_cap: int,
    default_expiry: timedelta,
    claim: KeyClaim,
    answer: Callable[[Mapping[str, Any]], tuple[int, dict[str, Any]]],
    now: datetime | None = None,
) -> tuple[int, dict[str, Any]] | None:
    """A service-fee request with no subsidy, created from its fee's cached terms together with its
    idempotency key (which stores `answer(row)`), in the statement that writes a group of such creations
    (payments/creation_groups.py): no BEGIN, no COMMIT, and one round trip shared with the group. The row
    is written only if the fee still has exactly these terms, no subsidy programme could apply and the key
    is free; None, with nothing written, otherwise (the caller takes the full path)."""
    if new.kind != "service_fee" or not 0 < terms.amount <= amount_cap:
        return None  # the full path settles a free request or names the cap
    now = now or datetime.now(UTC)
    fee = {
        "fee_amount": terms.amount,
        "purpose_vi": terms.name_vi,
        "purpose_en": terms.name_en,
        "revenue_account": terms.revenue_account,
        "bin": terms.bin,
        "account": terms.account_number,
        "holder": terms.holder_name,
        "subsidy_code": None,
        "subsidy": 0,
    }
    columns = _request_columns(new, fee, created_by=created_by, now=now, default_expiry=default_expiry)
    status, body = answer({**columns, **_FRESH_DEFAULTS, "bank_name": terms.bank_name, "receipt_id": None})
    written = await groups.write(columns, terms.bank_name, claim, status, body)
    return (status, body) if written else None


# One list of the columns a creation writes (payments/creation_groups.py, with their types for the group's
# arrays): this insert and the group's statement both take it, by name.
_INSERT_REQUEST = (
    f"INSERT INTO payment_requests ({', '.join(name for name, _ in REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(REQUEST_COLUMNS) + 1))})"
)


async def _settle_fully_subsidised(
    conn: asyncpg.Connection, keys: AppKeys, row: asyncpg.Record, now: datetime
) -> asyncpg.Record:
    await post_entry(
        conn,
        idempotency_key=f"subsidy:{row['id']}",
        kind="subsidy",
        business_date=business_date_of(now),
        lines=[
            (accounts.subsidy_expense(row["subsidy_code"]), row["fee_amount"]),
            (row["revenue_account"], -row["fee_amount"]),
        ],
        refs={"payment_request": str(row["id"]), "reference": row["reference"]},
    )
    row = await conn.fetchrow(
        "UPDATE payment_requests SET status = 'paid', settled_at = $2, closed_at = $2 "
        "WHERE id = $1 RETURNING *",
        row["id"],
        now,
    )
    await issue_receipt(conn, keys, row["id"])
    return row


async def cancel_payment_request(
    conn: asyncpg.Connection, request_id, *, actor: str, reason: str
) -> asyncpg.Record:
    """Cancel a pending request: who and why are kept on the request (finance sees them) and in the audit log,
    in the same transaction as the change."""
    reason = clean_cancel_reason(reason)
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM payment_requests WHERE id = $1 FOR UPDATE", request_id)
        if row is None:
            raise NotFound("no such payment request", field="id")
        if row["status"] != "pending":
            raise RequestNotPending(f"the request is {row['status']}", field="status")
        before = {"status": row["status"], "amount_received": row["amount_received"]}
        row = await _close_unpaid(
            conn, row, "cancelled", datetime.now(UTC), cancelled_by=actor, cancel_reason=reason
        )
        await record_audit(
            conn,
            actor=actor,
            action="payment_request.cancel",
            subject=f"payment_request:{row['id']}",
            before=before,
            after={"status": row["status"], "reference": row["reference"], "reason": reason},
        )
    return row


async def _close_unpaid(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    status: str,
    now: datetime,
    *,
    cancelled_by: str | None = None,
    cancel_reason: str | None = None,
) -> asyncpg.Record:
    """Expire or cancel a pending request: give back its subsidy, and move any partial payment that was held
    to suspense so finance can refund it."""
    if row["subsidy_amount"]:
        await conn.execute(
            "UPDATE subsidy_programmes SET budget_used = budget_used - $2 WHERE code = $1",
            row["subsidy_code"],
            row["subsidy_amount"],
        )
    if row["amount_received"]:
        await post_entry(
            conn,
            idempotency_key=f"{status}-held:{row['id']}",
            kind="held_to_suspense",
            business_date=business_date_of(now),
            lines=[
                (accounts.HELD, row["amount_received"]),
                (accounts.SUSPENSE, -row["amount_received"]),
            ],
            refs={"payment_request": str(row["id"]), "reference": row["reference"]},
        )
    row = await conn.fetchrow(
        "UPDATE payment_requests SET status = $2, closed_at = $3, cancelled_by = $4, cancel_reason = $5 "
        "WHERE id = $1 RETURNING *",
        row["id"],
        status,
        now,
        cancelled_by,
        cancel_reason,
    )
    await notify_status(conn, row["reference"])
    return row


async def expire_overdue_requests(
    conn: asyncpg.Connection, *, limit: int = 500, now: datetime | None = None
) -> int:
    """Move overdue pending requests to expired. SKIP LOCKED lets several processes sweep side by side, and a
    request being settled right now is simply left for the next sweep."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT * FROM payment_requests WHERE status = 'pending' AND expires_at <= $1
                ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        for row in rows:
            await _close_unpaid(conn, row, "expired", now)
    return len(rows)


class RequestBeingPaid(Conflict):
    slug = "payment-request-being-paid"
    title_vi, title_en = "Đang ghi nhận một khoản thanh toán", "A payment is being booked"


async def supersede_request(conn: asyncpg.Connection, request_id, *, actor: str, reason: str) -> str:
    """Another capability settles what `request_id` asked for some other way (a new exit QR, cash, a void):
    a pending request is cancelled, and so is an expired one. An expired request is otherwise reopened by a
    payment booked within the late tolerance (payments/settlement.py), which would take the same fee twice;
    cancelled, such a payment goes to suspense to be refunded. Returns the status found ("paid": nothing to
    supersede, the caller must not take the money again). Inside the caller's transaction. The request's row
    is taken without waiting: a payment of it being booked at that moment holds it, and waiting here while
    holding the caller's own rows could deadlock with that booking; the caller is told to try again."""
    try:
        status = await conn.fetchval(
            "SELECT status FROM payment_requests WHERE id = $1 FOR UPDATE NOWAIT", request_id
        )
    except asyncpg.LockNotAvailableError:
        raise RequestBeingPaid(
            "a payment of this request is being booked right now; try again in a few seconds",
            field="payment_request_id",
        ) from None
    if status == "pending":
        await cancel_payment_request(conn, request_id, actor=actor, reason=reason)
    elif status == "expired":
        reason = clean_cancel_reason(reason)
        await conn.execute(
            "UPDATE payment_requests SET status = 'cancelled', cancelled_by = $2, cancel_reason = $3 "
            "WHERE id = $1",
            request_id,
            actor,
            reason,
        )
        await record_audit(  # expiry already gave back the subsidy and moved any part payment to suspense
            conn,
            actor=actor,
            action="payment_request.cancel",
            subject=f"payment_request:{request_id}",
            before={"status": "expired"},
            after={"status": "cancelled", "reason": reason},
        )
    return status or "missing"


async def request_status(conn: asyncpg.Connection, request_id) -> str | None:
    """The status of one payment request (None if there is no such request), for another capability."""
    status: str | None = await conn.fetchval("SELECT status FROM payment_requests WHERE id = $1", request_id)
    return status


async def payment_summary(conn: asyncpg.Connection, request_id, base_url: str) -> dict | None:
    """What another capability (the parking console) shows of a request: status, amount, QR, where to pay."""
    row = await conn.fetchrow(
        "SELECT id, reference, status, amount_due, qr_payload, expires_at FROM payment_requests "
        "WHERE id = $1",
        request_id,
    )
    return None if row is None else summary_of(row, base_url)


def summary_of(row: Mapping[str, Any], base_url: str) -> dict:
    """`payment_summary` of a request row the caller already holds (the one it has just issued)."""
    return {
        "id": str(row["id"]),
        "reference": row["reference"],
        "status": row["status"],
        "amount_due": row["amount_due"],
        "pay_url": f"{base_url}/pay/{row['reference']}",
        "qr_png_url": (
            f"{base_url}/api/v1/payment-requests/{row['id']}/qr.png" if row["qr_payload"] else None
        ),
        "qr_payload": row["qr_payload"],
        "expires_at": row["expires_at"].isoformat(),
    }
