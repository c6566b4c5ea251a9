"""The seam between citypay and a bank's protocol: one `BankScheme` per protocol, registered by name.

A scheme says everything citypay does with a bank through that protocol: verify and parse an inbound credit
callback, recognise a replay by what its signature covers, re-read a stored callback, and answer in the
protocol's own words. What banks will also do for us next — name inquiry, payouts and their status, statement
download (reconciliation and disbursements) — are methods here too, refused until a scheme implements them.
Adding a scheme is one module that subclasses `BankScheme` and calls `register`; the callback service
(`payments/callbacks.py`) never branches on a scheme's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from core.keys import AppKeys
from payments.banks.event import NO_ACTIVE_KEY, BankCredit, CallbackRejected


@dataclass
class BankProfile:
    """A registered bank or gateway with its active keys (public keys by id, or shared secrets)."""

    code: str
    bin: str
    scheme: str
    tolerance_s: int
    credited_account: str | None
    merchant_code: str | None
    public_keys: dict[str, Any] = field(default_factory=dict)
    secrets: list[bytes] = field(default_factory=list)

    @property
    def has_active_key(self) -> bool:
        return bool(self.public_keys or self.secrets)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BankProfile:
        """A profile, with no keys yet, from a `bank_profiles` row."""
        return cls(
            row["code"],
            row["bin"],
            row["scheme"],
            row["tolerance_s"],
            row["credited_account"],
            row["merchant_code"],
        )


@dataclass(frozen=True)
class IncomingCallback:
    """One HTTP delivery at the callback URL, as received: nothing in it is trusted yet."""

    bank_code: str
    method: str
    content_type: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    query_string: str
    raw_body: bytes
    remote: str | None


@dataclass(frozen=True)
class CallbackReply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Booked:
    """What settlement made of a credit, as far as the bank's answer needs it."""

    outcome: str  # settled | overpaid | underpaid | over_cap | unknown_reference | late | …
    duplicate: bool  # the transaction had been booked before: the first outcome is repeated
    bank_txn_id: str


class NotSupported(Exception):
    """The scheme does not offer this (yet)."""


RETRY_AFTER_S = 5


class BankScheme(ABC):
    """Base of every scheme. Subclasses set the class attributes and implement the abstract inbound methods;
    the outbound ones below refuse with NotSupported until a scheme offers them."""

    name: ClassVar[str]
    key_kind: ClassVar[Literal["public_key", "shared_secret"]]
    # Gateways do not say which account they credited: the profile names it (and it must be a city account).
    credits_profile_account: ClassVar[bool] = False
    booking_field: ClassVar[str] = "booked_at"  # where the booking time is, for refusals that name it

    # Inbound credits -------------------------------------------------------------------------------------

    @abstractmethod
    def verify_and_parse(self, profile: BankProfile, incoming: IncomingCallback, now: datetime) -> BankCredit:
        """Verify the signature with the profile's active keys, then parse; raise CallbackRejected."""
        ...

    @abstractmethod
    def signed_content(self, incoming: IncomingCallback) -> bytes:
        """What the signature covers, with the signature: a replay is the same signed content again."""
        ...

    @abstractmethod
    def reparse(self, profile: BankProfile, raw_body: bytes, query_string: str) -> BankCredit:
        """The credit of a callback that was verified and stored earlier."""
        ...

    @property
    def credited_account_field(self) -> str:
        return "bank_profile.credited_account" if self.credits_profile_account else "credited_account"

    # Answers ---------------------------------------------------------------------------------------------

    @abstractmethod
    def answer_booked(self, booked: Booked, keys: AppKeys, now: datetime) -> CallbackReply: ...

    @abstractmethod
    def answer_rejected(self, rejected: CallbackRejected, keys: AppKeys, now: datetime) -> CallbackReply: ...

    @abstractmethod
    def answer_not_a_credit(self, keys: AppKeys, now: datetime) -> CallbackReply:
        """A valid notice of a payment that failed: kept for the record, nothing booked."""
        ...

    @abstractmethod
    def answer_retry(self, keys: AppKeys, now: datetime) -> CallbackReply:
        """Nothing was stored (e.g. the database is restarting): the bank must send it again."""
        ...

    # Outbound, for disbursements and reconciliation (next issues) -------------------------------------------

    async def name_inquiry(
        self,
        profile: BankProfile,
        bin_: str,
        account: str,
        *,
        national_id: str | None = None,  # the holder's CCCD, for banks that can confirm it (id_match)
        base_url: str | None = None,
        session: Any = None,
        timeout_s: float = 10.0,
    ) -> Any:
        """The holder of `account` at bank `bin_` as the bank answers it (a dict: see citypay_v1)."""
        raise NotSupported(f"{self.name} has no name inquiry")

    async def payout(
        self,
        profile: BankProfile,
        payout: Mapping[str, Any],
        idempotency_key: str,
        *,
        base_url: str | None = None,  # where the bank's API is (a profile does not hold it yet)
        session: Any = None,  # the caller's pooled aiohttp session (keep-alive), or None
        timeout_s: float = 10.0,
    ) -> Any:
        raise NotSupported(f"{self.name} takes no payouts")

    async def payout_status(
        self,
        profile: BankProfile,
        idempotency_key: str,
        *,
        base_url: str | None = None,
        session: Any = None,
        timeout_s: float = 10.0,
    ) -> Any:
        raise NotSupported(f"{self.name} has no payout status inquiry")

    async def download_statement(
        self, profile: BankProfile, account: str, day: date, *, base_url: str, max_bytes: int
    ) -> bytes:
        """The bank's statement file of one of the city's accounts for one business day (`base_url`: where
        the bank's API is; a bank profile does not hold it yet)."""
        raise NotSupported(f"{self.name} offers no statement download")


def first_verified(verify, secrets: list[bytes]) -> None:
    """Two shared secrets may be active during rotation: the callback verifies if either one signed it."""
    last: CallbackRejected | None = None
    for secret in secrets:
        try:
            verify(secret)
            return
        except CallbackRejected as exc:
            last = exc
    raise last or CallbackRejected(NO_ACTIVE_KEY, "the profile has no active key")


SCHEMES: dict[str, BankScheme] = {}


def register(scheme: BankScheme) -> BankScheme:
    if scheme.name in SCHEMES:
        raise ValueError(f"bank scheme {scheme.name!r} registered twice")
    SCHEMES[scheme.name] = scheme
    return scheme


def scheme_named(name: str) -> BankScheme:
    """The registered scheme; a profile naming an unknown one refuses every callback."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise CallbackRejected(NO_ACTIVE_KEY, f"no scheme {name!r} is registered") from None
