"""Settlement: "the bank credited account X with amount A for narrative N, transaction T" → one ledger entry
and the request's new state, in the caller's transaction. Every anomaly keeps the money traceable:

exact → settled · less than due → held (accounts.HELD), request stays pending until the rest arrives ·
more → settled, excess to accounts.REFUNDS_DUE · paid (by the bank's booking time) after expiry/cancel/paid,
or no known reference → accounts.SUSPENSE for refund · above the inbound sanity cap, or to a city account
other than the request's → accounts.SUSPENSE, held for finance, never settles anything. A repeated (bank,
transaction id) returns the first outcome and books nothing.

The journal memo carries no personal data; the narrative is stored encrypted, with a redacted copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.pii import encrypt_pii
from ledger import EntryDraft, accounts, open_day_for, post_entry
from payments.banks.event import BankCredit
from payments.narrative import NARRATIVE_CONTEXT, redact_narrative
from payments.receipts import ReceiptDraft, draft_receipt, number_and_store_receipts, settling_payments
from payments.reference import find_reference_in_narrative
from payments.requests import business_date_of, notify_status

DEFAULT_LATE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Settlement:
    outcome: str  # settled | overpaid | underpaid | late | cancelled | already_paid | unknown_reference
    payment_id: int
    entry_id: int
    payment_request_id: str | None
    reference: str | None
    duplicate: bool  # True when this bank transaction had been processed before


class SettlementGroup:
    """What a group of credits settled in one transaction (payments/group_commit.py) has already learnt, so
    each credit of the group need not ask again. The caller holds the advisory lock of every key in `locked`
    and the row lock of every request in `requests`, taken in a fixed order (keys by hash, requests by id) to
    avoid deadlocks between groups. `first` maps (bank code, transaction id) to the outcome of its first
    booking, or None when it was never booked (read after the locks, so it cannot change under us);
    `requests` maps a reference to its request row as it stands now in this transaction (None: no such
    request). A credit that fails inside its savepoint must be forgotten (`forget`), since its changes to
    the request were rolled back."""

    def __init__(self, *, defer_receipts: bool = False) -> None:
        self.locked: set[str] = set()
        self.first: dict[tuple[str, str], Settlement | None] = {}
        self.requests: dict[str, Mapping[str, Any] | None] = {}
        # The day a credit of a booking date goes on (ledger.open_day_for), asked once per group. Should a
        # day close commit meanwhile, the ledger's trigger refuses the entry and that credit settles alone.
        self.open_days: dict[date, date] = {}
        # With `defer_receipts`, the receipts of the credits that paid a request are drafted, and numbered and
        # stored together at the end of the group (number_and_store_receipts): the receipt series row, which
        # every settling transaction waits on, is then locked only from there to the group's commit. The
        # requests' status notices are sent there too (NOTIFY delivers them at COMMIT either way).
        self.defer_receipts = defer_receipts
        self.receipts: dict[tuple[str, str], ReceiptDraft] = {}
        self.notices: dict[tuple[str, str], str] = {}  # status notices (references) for the pay pages

    def forget(self, credit: BankCredit) -> None:
        self.receipts.pop((credit.bank_code, credit.bank_txn_id), None)
        self.notices.pop((credit.bank_code, credit.bank_txn_id), None)
        reference = find_reference_in_narrative(credit.narrative)
        if reference is not None:
            self.requests.pop(reference, None)

    def remember(self, credit: BankCredit, settlement: Settlement) -> None:
        """Once the credit's savepoint is released: a later copy in the group sees this first outcome."""
        key = (credit.bank_code, credit.bank_txn_id)
        if self.first.get(key) is None:
            self.first[key] = replace(settlement, duplicate=True)


def lock_key(bank_code: str, bank_txn_id: str) -> str:
    """The advisory lock's text for a bank transaction: every path that books one takes it first."""
    return f"{bank_code}:{bank_txn_id}"


def settlement_of(row: Mapping[str, Any]) -> Settlement:
    """A payments_received row as the outcome a repeat of its bank transaction is answered with."""
    request_id = str(row["payment_request_id"]) if row["payment_request_id"] else None
    return Settlement(row["outcome"], row["id"], row["entry_id"], request_id, row["reference"], True)


async def first_outcome(conn: asyncpg.Connection, bank_code: str, bank_txn_id: str) -> Settlement | None:
    """What became of a bank transaction the first time it was booked, or None if it never was."""
    row = await conn.fetchrow(
        "SELECT * FROM payments_received WHERE bank_code = $1 AND bank_txn_id = $2", bank_code, bank_txn_id
    )
    return None if row is None else settlement_of(row)


async def lock_request(conn: asyncpg.Connection, reference: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT pr.*, b.short_name AS bank_name FROM payment_requests pr
             JOIN banks b ON b.bin = pr.collection_bin
            WHERE pr.reference = $1 FOR UPDATE OF pr""",
        reference,
    )


async def _reopen_expired(conn: asyncpg.Connection, request: asyncpg.Record) -> bool:
    """A request the sweeper expired although the citizen paid in time: take its subsidy back (it was given
    back at expiry) and make it pending again, so the payment settles it. False when that cannot be done
    honestly — money was held and already moved to suspense, or the subsidy budget is gone."""
    if request["amount_received"]:
        return False
    if request["subsidy_amount"]:
        taken = await conn.fetchval(
            """UPDATE subsidy_programmes SET budget_used = budget_used + $2
                WHERE code = $1 AND budget_used + $2 <= budget_cap RETURNING true""",
            request["subsidy_code"],
            request["subsidy_amount"],
        )
        if not taken:
            return False
    await conn.execute(
        "UPDATE payment_requests SET status = 'pending', closed_at = NULL WHERE id = $1", request["id"]
    )
    return True


def decide_credit(
    credit: BankCredit,
    request: Mapping[str, Any] | None,
    *,
    on_time: bool,
    sanity_cap: int | None,
) -> tuple[str, list[tuple[str, int]]]:
    """The money rule of one new credit: its outcome and its journal lines, from the request as it stands
    under its row lock (None: no request with the narrative's reference). Pure; the caller books it."""
    bank = accounts.bank_account(credit.credited_bin, credit.credited_account)
    amount = credit.amount
    parked = [(bank, amount), (accounts.SUSPENSE, -amount)]
    if sanity_cap is not None and amount > sanity_cap:
        return "over_cap", parked
    if request is None:
        return "unknown_reference", parked
    if (request["collection_bin"], request["collection_account"]) != (
        credit.credited_bin,
        credit.credited_account,
    ):
        return "wrong_account", parked
    if request["status"] == "pending" and not on_time:
        return "late", parked
    if request["status"] != "pending":
        outcome = {"expired": "late", "cancelled": "cancelled", "paid": "already_paid"}[request["status"]]
        return outcome, parked
    held = request["amount_received"]
    total = held + amount
    due = request["amount_due"]
    if total < due:
        return "underpaid", [(bank, amount), (accounts.HELD, -amount)]
    lines = [(bank, amount), (request["revenue_account"], -request["fee_amount"])]
    if held:
        lines.append((accounts.HELD, held))
    if request["subsidy_amount"]:
        lines.append((accounts.subsidy_expense(request["subsidy_code"]), request["subsidy_amount"]))
    if total > due:
        lines.append((accounts.REFUNDS_DUE, -(total - due)))
    return ("settled" if total == due else "overpaid"), lines


async def settle_credit(
    conn: asyncpg.Connection,
    keys: AppKeys,
    credit: BankCredit,
    *,
    now: datetime | None = None,
    sanity_cap: int | None = None,
    late_tolerance: timedelta = DEFAULT_LATE_TOLERANCE,
    group: SettlementGroup | None = None,
) -> Settlement:
    """Book one bank credit. Must be called inside the transaction that also records the callback, so the
    inbox row, the ledger entry and the request change commit together or not at all.

    Lateness is judged by the bank's booking time (plus `late_tolerance` for clocks), never by when the
    callback arrived: a citizen who paid in time is settled even after an outage delayed the callback.

    In a group commit, `group` says which locks the transaction already holds and what it already read; the
    rules below are the same for a credit settled alone and one settled in a group."""
    if not conn.is_in_transaction():
        raise RuntimeError("settle_credit runs inside the caller's transaction")
    now = now or datetime.now(UTC)
    group = group or SettlementGroup()
    txn = (credit.bank_code, credit.bank_txn_id)
    # Serialise on the bank transaction id: a concurrent duplicate waits here, then sees the first outcome.
    if lock_key(*txn) not in group.locked:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock_key(*txn))
    first = group.first[txn] if txn in group.first else await first_outcome(conn, *txn)
    if first is not None:
        return first

    reference = find_reference_in_narrative(credit.narrative)
    request: Mapping[str, Any] | None = None
    if reference:
        if reference in group.requests:
            request = group.requests[reference]
        else:
            request = await lock_request(conn, reference)
    booked_on = business_date_of(credit.booked_at)
    if booked_on not in group.open_days:  # a closed day books on the next
        group.open_days[booked_on] = await open_day_for(conn, booked_on)
    day = group.open_days[booked_on]
    on_time = request is not None and credit.booked_at <= request["expires_at"] + late_tolerance
    reopen = request is not None and request["status"] == "expired" and on_time
    if reopen and request is not None and await _reopen_expired(conn, request):
        request = {**request, "status": "pending", "closed_at": None}
    outcome, lines = decide_credit(credit, request, on_time=on_time, sanity_cap=sanity_cap)

    draft = credit_entry(credit, request, outcome, lines, day)
    entry = await post_entry(
        conn,
        idempotency_key=draft.idempotency_key,
        kind=draft.kind,
        business_date=draft.business_date,
        lines=draft.lines,
        refs=draft.refs,
        memo=draft.memo,
    )
    booking = Booking(credit, request, outcome, entry.id, now)
    payment = (await insert_payments(conn, keys, [booking]))[booking.txn]
    if booking.credits_request:
        request = booking.counted
        after = (await credit_requests(conn, [booking]))[request["id"]]
        if booking.pays_request:
            # The request was pending under our row lock, so it has no receipt yet; without earlier part
            # payments held, this payment is the only one it lists.
            held_before = request["amount_received"]
            credits = await settling_payments(conn, request["id"]) if held_before else [payment]
            draft_ = await draft_receipt(
                conn,
                keys,
                after,
                credits,
                payer_name=credit.payer_name,  # the bank said it: no need to decrypt the stored callback
            )
            if group.defer_receipts:
                group.receipts[txn] = draft_
            else:
                await number_and_store_receipts(conn, keys, [draft_])
        if group.defer_receipts:  # the group tells the pay pages at its end, in one statement
            group.notices[txn] = request["reference"]
        else:
            await notify_status(conn, request["reference"])
        request = after
    if reference and reference in group.requests:
        group.requests[reference] = request  # as it stands now, for the group's next credit
    return Settlement(
        outcome,
        payment["id"],
        entry.id,
        str(request["id"]) if request else None,
        request["reference"] if request else None,
        False,
    )


# What a booked credit writes, in statements that take any number of credits (one alone, or a group's) ----


@dataclass(frozen=True)
class Booking:
    """A new credit decided (its outcome and journal entry) and about to be written: its payment row, and the
    change to its request when it counts towards one."""

    credit: BankCredit
    request: Mapping[str, Any] | None  # as it stood under its row lock, before this credit
    outcome: str
    entry_id: int
    now: datetime

    @property
    def txn(self) -> tuple[str, str]:
        return self.credit.bank_code, self.credit.bank_txn_id

    @property
    def counted(self) -> Mapping[str, Any]:
        """The request a credit counts towards (only for `credits_request`)."""
        if self.request is None:
            raise RuntimeError(f"credit {self.txn} counts towards no request")
        return self.request

    @property
    def credits_request(self) -> bool:
        return self.request is not None and self.outcome in ("underpaid", "settled", "overpaid")

    @property
    def pays_request(self) -> bool:
        return self.credits_request and self.outcome != "underpaid"


def credit_entry(
    credit: BankCredit,
    request: Mapping[str, Any] | None,
    outcome: str,
    lines: list[tuple[str, int]],
    day: date,
) -> EntryDraft:
    """The journal entry of a new credit; its key makes a second booking of the transaction impossible."""
    refs = {"bank": credit.bank_code, "bank_txn_id": credit.bank_txn_id}
    if request is not None:
        refs |= {"payment_request": str(request["id"]), "reference": request["reference"]}
    return EntryDraft(
        idempotency_key=f"credit:{credit.bank_code}:{credit.bank_txn_id}",
        kind=f"credit.{outcome}",
        business_date=day,
        lines=lines,
        refs=refs,
        memo=f"{credit.bank_code} {credit.bank_txn_id} {outcome}",  # no narrative: it holds personal data
    )


async def insert_payments(
    conn: asyncpg.Connection, keys: AppKeys, bookings: Sequence[Booking]
) -> dict[tuple[str, str], asyncpg.Record]:
    """The payments_received rows, in one statement, by (bank code, transaction id). Each returns what a
    receipt lists of a payment, so a receipt needs no read-back."""
    rows = await conn.fetch(
        """INSERT INTO payments_received (bank_code, bank_txn_id, amount, credited_bin, credited_account,
               narrative, narrative_encrypted, booked_at, reference, payment_request_id, outcome, entry_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                                $7::text[], $8::timestamptz[], $9::text[], $10::uuid[], $11::text[],
                                $12::bigint[])
           RETURNING id, bank_code, bank_txn_id, amount, booked_at""",
        [b.credit.bank_code for b in bookings],
        [b.credit.bank_txn_id for b in bookings],
        [b.credit.amount for b in bookings],
        [b.credit.credited_bin for b in bookings],
        [b.credit.credited_account for b in bookings],
        [redact_narrative(b.credit.narrative) for b in bookings],
        [encrypt_pii(keys, b.credit.narrative, context=NARRATIVE_CONTEXT) for b in bookings],
        [b.credit.booked_at for b in bookings],
        [b.request["reference"] if b.request is not None else None for b in bookings],
        [b.request["id"] if b.request is not None else None for b in bookings],
        [b.outcome for b in bookings],
        [b.entry_id for b in bookings],
    )
    return {(row["bank_code"], row["bank_txn_id"]): row for row in rows}


async def credit_requests(conn: asyncpg.Connection, bookings: Sequence[Booking]) -> dict[Any, dict[str, Any]]:
    """The requests the bookings count towards (`credits_request`; each request once), in one statement: the
    amount received, and paid when it is. Returns the rows as they stand after, with their `bank_name`."""
    counting = [b for b in bookings if b.credits_request]
    rows = await conn.fetch(
        """UPDATE payment_requests pr SET amount_received = pr.amount_received + c.amount,
               status = CASE WHEN c.paid THEN 'paid' ELSE pr.status END,
               settled_at = CASE WHEN c.paid THEN c.at ELSE pr.settled_at END,
               closed_at = CASE WHEN c.paid THEN c.at ELSE pr.closed_at END
             FROM unnest($1::uuid[], $2::bigint[], $3::bool[], $4::timestamptz[]) AS c(id, amount, paid, at)
            WHERE pr.id = c.id RETURNING pr.*""",
        [b.counted["id"] for b in counting],
        [b.credit.amount for b in counting],
        [b.pays_request for b in counting],
        [b.now for b in counting],
    )
    names = {b.counted["id"]: b.counted["bank_name"] for b in counting}
    after = {row["id"]: {**row, "bank_name": names[row["id"]]} for row in rows}
    if len(after) != len(counting):
        raise RuntimeError(f"{len(counting)} requests to credit, {len(after)} updated")
    return after


# The bank's statement as a source of credits ----------------------------------------------------------------


async def settle_statement_credit(
    conn: asyncpg.Connection,
    keys: AppKeys,
    *,
    credited_bin: str,
    credited_account: str,
    bank_ref: str,
    amount: int,
    booked_on: date,
    narrative: str,
    now: datetime | None = None,
    sanity_cap: int | None = None,
    late_tolerance: timedelta = DEFAULT_LATE_TOLERANCE,
) -> Settlement | None:
    """A credit the bank's statement shows but no callback brought (a lost callback): settle it exactly as the
    callback would have — the same `settle_credit`, with the account's bank profile as `bank_code` and the
    statement's bank reference as `bank_txn_id`, so a callback that arrives later is a duplicate and books
    nothing. Booked as of the start of the booking day in Hà Nội (a statement gives a date, not a time; a
    request still open that day is settled). Runs in the caller's transaction.

    None when there is nothing to settle by: the narrative names no payment request we issued, or no bank
    profile serves the account's bank (finance then sees the line as "in bank, not in ledger")."""
    reference = find_reference_in_narrative(narrative)
    if reference is None:
        return None
    if not await conn.fetchval("SELECT true FROM payment_requests WHERE reference = $1", reference):
        return None
    bank_code = await conn.fetchval(
        "SELECT code FROM bank_profiles WHERE bin = $1 ORDER BY active DESC, code LIMIT 1", credited_bin
    )
    if bank_code is None:
        return None
    credit = BankCredit(
        bank_code=bank_code,
        bank_txn_id=bank_ref,
        credited_bin=credited_bin,
        credited_account=credited_account,
        amount=amount,
        currency="VND",
        booked_at=datetime.combine(booked_on, time.min, LOCAL_TZ),
        narrative=narrative,
        payer_name=None,
        payer_account_masked=None,
    )
    return await settle_credit(
        conn, keys, credit, now=now, sanity_cap=sanity_cap, late_tolerance=late_tolerance
    )


async def collection_accounts_to_close(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(BIN, account number) of every active collection account: reconciliation closes the ledger's day once
    each of them has closed it."""
    rows = await conn.fetch(
        "SELECT bin, account_number FROM collection_accounts WHERE active ORDER BY bin, account_number"
    )
    return [(r["bin"], r["account_number"]) for r in rows]
