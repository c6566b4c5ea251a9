"""Payouts through the bank-scheme seam: which bank and address pay out of a programme's funding account,
one pooled HTTP session per worker (keep-alive), and what each ISO reason code means for the item.

A payout is sent under the item's end-to-end id as the bank's Idempotency-Key. An answer that did not arrive
(timeout, 5xx, broken connection) is `unknown`: only a status inquiry under the same key may settle it
(404 → never received → send again under the SAME key; booked → paid; rejected → failed).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from core.keys import AppKeys
from core.settings import Settings
from payments import BankProfile, NotSupported, load_bank_profile, scheme_named, statement_sources


@dataclass(frozen=True)
class Refusal:
    """What a refusal code means: `retryable` (a later run may pay: nothing about the person is wrong),
    `stop` (no more payouts to this beneficiary until a person reviews: AC04, MD07), `review` (a person must
    look at this item before anything else happens: AM05 — the bank already paid the same thing under another
    key, so it is never sent again)."""

    retryable: bool
    stop: bool = False
    review: bool = False


REFUSALS: Mapping[str, Refusal] = {
    "AC01": Refusal(retryable=False),  # wrong account number: the account must be corrected and re-verified
    "AC04": Refusal(retryable=False, stop=True),  # closed: stop until a person records a new account
    "AC06": Refusal(retryable=True),  # blocked: may be lifted; the next run may pay
    "BE01": Refusal(retryable=False, review=True),  # name differs from the holder's: review the verification
    "MD07": Refusal(retryable=False, stop=True),  # deceased: stop every programme for this person
    "AM05": Refusal(retryable=False, review=True),  # duplicate under another key: never resend
    "AM04": Refusal(retryable=True, review=True),  # the city's account lacked funds at the bank
}
UNKNOWN_REFUSAL = Refusal(retryable=False, review=True)
# The bank refused the request itself (not a payment decision: a 4xx, a key reused with another body) —
# nothing was booked under this key that we can confirm, so a person looks. ISO "MS03": reason not specified.
REQUEST_REFUSED_CODE = "MS03"


def refusal(code: str) -> Refusal:
    return REFUSALS.get(code, UNKNOWN_REFUSAL)


@dataclass(frozen=True)
class PayoutRoute:
    """How payouts from one funding account reach its bank."""

    profile: BankProfile
    base_url: str


class NoPayoutRoute(Exception):
    """The funding account has no active bank profile that takes payouts (or no address for it)."""


async def payout_route(
    conn: asyncpg.Connection, keys: AppKeys, settings: Settings, funding: str
) -> PayoutRoute:
    """The bank profile of the funding account `asset:bank:<bin>:<account>` and where its API is (a profile
    does not hold its address yet: the simulated bank's, for citypay-bank-v1, as statement fetching does)."""
    parts = funding.split(":")
    if len(parts) != 4 or parts[:2] != ["asset", "bank"]:
        raise NoPayoutRoute(f"{funding} is not a bank account")
    for source in await statement_sources(conn):
        if (source.bin, source.account_number) != (parts[2], parts[3]):
            continue
        if source.scheme != "citypay-bank-v1" or not settings.banksim_url:
            continue
        profile = await load_bank_profile(conn, keys, source.bank_code)
        if profile is not None:
            return PayoutRoute(profile, settings.banksim_url)
    raise NoPayoutRoute(f"no active bank profile takes payouts from {parts[2]} ****{parts[3][-4:]}")


class PayoutClient:
    """One worker's connection to the bank: a pooled aiohttp session (keep-alive, at most `concurrency`
    connections), closed with the worker."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout_s: float) -> None:
        self.session = session
        self.timeout_s = timeout_s

    async def send(self, route: PayoutRoute, body: Mapping[str, Any], key: str) -> dict[str, Any]:
        try:
            return await scheme_named(route.profile.scheme).payout(
                route.profile,
                body,
                key,
                base_url=route.base_url,
                session=self.session,
                timeout_s=self.timeout_s,
            )
        except NotSupported as exc:
            return {"status": "unknown", "error": str(exc)}

    async def status(self, route: PayoutRoute, key: str) -> dict[str, Any]:
        try:
            return await scheme_named(route.profile.scheme).payout_status(
                route.profile, key, base_url=route.base_url, session=self.session, timeout_s=self.timeout_s
            )
        except NotSupported as exc:
            return {"status": "unknown", "error": str(exc)}


@contextlib.asynccontextmanager
async def payout_client(*, concurrency: int, timeout_s: float) -> AsyncIterator[PayoutClient]:
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
    ) as session:
        yield PayoutClient(session, timeout_s=timeout_s)
