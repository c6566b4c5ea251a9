"""Set-based settlement of a group's plain credits (payments/group_commit.py).

A credit is plain when `settle_credit` would book it with nothing but rows of its own: a bank transaction
booked for the first time, the only new transaction of the group that names its request, a request that
needs no reopening (not expired-but-paid-in-time) and holds no earlier part payment (its receipt then
lists this payment alone). The group has already done for all of them what `settle_credit` does first for
one: taken the advisory lock of each transaction, read its first outcome under it, locked each request.
The plain credits are then booked together — one statement each for their journal entries, their postings,
their payments and their requests' changes, one read of their fees — with the same money rule,
`decide_credit`. Every other credit of the group settles one by one (`settle_credit`), as before.

The caller runs `settle_plain_credits` under a savepoint of its own: should any statement fail, the whole set
rolls back to it and its credits settle one by one, so one bad credit still fails alone. The group's record
(`SettlementGroup`) is changed only after every statement succeeded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from core.keys import AppKeys
from ledger import open_day_for, post_entries
from payments.banks.event import BankCredit
from payments.receipts import draft_receipt, fee_rows
from payments.reference import find_reference_in_narrative
from payments.requests import business_date_of
from payments.settlement import (
    Booking,
    Settlement,
    SettlementGroup,
    credit_entry,
    credit_requests,
    decide_credit,
    insert_payments,
)


@dataclass(frozen=True)
class PlainCredit:
    credit: BankCredit
    now: datetime
    sanity_cap: int | None
    late_tolerance: timedelta


def choose_plain(credits: Sequence[PlainCredit], group: SettlementGroup) -> list[int]:
    """The positions of the plain credits among a group's, in arrival order (see the module's text)."""
    new = {}  # the first copy of each transaction never booked, by transaction
    for n, item in enumerate(credits):
        txn = (item.credit.bank_code, item.credit.bank_txn_id)
        if txn in group.first and group.first[txn] is None and txn not in new:
            new[txn] = n
    references = Counter(find_reference_in_narrative(credits[n].credit.narrative) for n in new.values())
    plain = []
    for n in new.values():
        item = credits[n]
        reference = find_reference_in_narrative(item.credit.narrative)
        if reference is not None:
            if references[reference] > 1 or reference not in group.requests:
                continue
            request = group.requests[reference]
            if request is not None:
                on_time = item.credit.booked_at <= request["expires_at"] + item.late_tolerance
                if (request["status"] == "expired" and on_time) or request["amount_received"]:
                    continue
        plain.append(n)
    return plain


async def settle_plain_credits(
    conn: asyncpg.Connection, keys: AppKeys, credits: Sequence[PlainCredit], group: SettlementGroup
) -> list[Settlement]:
    """Book plain credits (chosen by `choose_plain` from this group) in the caller's transaction; their
    receipts are drafted into the group (`defer_receipts`) for it to number at its end."""
    if not group.defer_receipts:
        raise RuntimeError("plain credits settle in a group that numbers its receipts at its end")
    for booked_on in sorted({business_date_of(item.credit.booked_at) for item in credits}):
        if booked_on not in group.open_days:  # a closed day books on the next
            group.open_days[booked_on] = await open_day_for(conn, booked_on)
    decided = []
    for item in credits:
        credit = item.credit
        reference = find_reference_in_narrative(credit.narrative)
        request = group.requests.get(reference) if reference else None
        on_time = request is not None and credit.booked_at <= request["expires_at"] + item.late_tolerance
        outcome, lines = decide_credit(credit, request, on_time=on_time, sanity_cap=item.sanity_cap)
        day = group.open_days[business_date_of(credit.booked_at)]
        decided.append((item, request, outcome, credit_entry(credit, request, outcome, lines, day)))
    entries = await post_entries(conn, [draft for *_, draft in decided])
    bookings = [
        Booking(item.credit, request, outcome, entry.id, item.now)
        for (item, request, outcome, _), entry in zip(decided, entries, strict=True)
    ]
    payments = await insert_payments(conn, keys, bookings)
    counting = [b for b in bookings if b.credits_request]
    after = await credit_requests(conn, counting) if counting else {}
    paying = [b for b in bookings if b.pays_request]
    fee_codes = [b.counted["fee_code"] for b in paying if b.counted["fee_code"]]
    fees = await fee_rows(conn, fee_codes) if fee_codes else {}
    receipts = {}
    for b in paying:
        receipts[b.txn] = await draft_receipt(
            conn, keys, after[b.counted["id"]], [payments[b.txn]], payer_name=b.credit.payer_name, fees=fees
        )

    # Every statement succeeded: now the group learns what was booked.
    group.receipts.update(receipts)
    settlements = []
    for b in bookings:
        request = b.request
        if b.credits_request:
            request = after[b.counted["id"]]
            group.notices[b.txn] = request["reference"]
            group.requests[request["reference"]] = request
        settlements.append(
            Settlement(
                b.outcome,
                payments[b.txn]["id"],
                b.entry_id,
                str(request["id"]) if request else None,
                request["reference"] if request else None,
                False,
            )
        )
    return settlements
