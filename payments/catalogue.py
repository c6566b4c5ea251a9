"""What the city charges and who helps pay: the fee catalogue, subsidy programmes and the collection accounts
they rest on (admin-maintained, every write audited). The bank BINs are in bank_directory.py, finance's views
of requests and money to refund in finance_views.py.

Payment requests copy a fee's amount, names and account when they are issued, so editing the catalogue never
changes a request already issued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from core.audit import record_audit
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint, problem_from_database_error
from core.money import Dong
from core.text import FreeText
from core.timebounds import BoundedDatetime
from ledger import accounts

FEE_CODE = r"^[A-Z0-9][A-Z0-9_-]{1,30}$"
PROGRAMME_CODE = r"^[a-z0-9][a-z0-9_-]{1,40}$"
ACCOUNT_CODE = r"^[a-z0-9][a-z0-9_-]{1,40}$"
CHANNEL = r"^[a-z0-9_-]{1,30}$"
FEE_REVENUE_ACCOUNT = accounts.FEE_REVENUE_PATTERN
BIN = r"^[0-9]{6}$"
MAX_BIGINT = 2**63 - 1

# Database guards → (problem, field, detail for API callers, message key for a person).
_GUARDS = (
    ("fee_catalogue_pkey", Conflict, "code", "a fee with this code exists", "fee_code_taken"),
    (
        "fee_catalogue_window",
        ValidationFailed,
        "active_until",
        "the window must end after it starts",
        "window",
    ),
    (
        "subsidy_programmes_pkey",
        Conflict,
        "code",
        "a subsidy programme with this code exists",
        "programme_taken",
    ),
    ("subsidy_programmes_fee_code_fkey", ValidationFailed, "fee_code", "no fee with this code", "no_fee"),
    (
        "subsidy_budget_within_cap",
        Conflict,
        "budget_cap",
        "the cap cannot go below the budget already used",
        "cap_below_used",
    ),
    ("subsidy_window", ValidationFailed, "valid_until", "the window must end after it starts", "window"),
    (
        "collection_accounts_code_key",
        Conflict,
        "code",
        "a collection account with this code exists",
        "account_code_taken",
    ),
    (
        "collection_accounts_bin_account_number_key",
        Conflict,
        "account_number",
        "this account at this bank is already registered",
        "account_taken",
    ),
    ("collection_accounts_bin_fkey", ValidationFailed, "bin", "unknown bank BIN", "no_bank"),
)
for _name, _problem, _field, _detail, _key in _GUARDS:
    map_constraint(_name, _problem, _field, _detail, message=f"catalogue.{_key}")


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)  # bounded to 2000–2100, so this cannot overflow


# Types shared by the API bodies and the HTML forms ----------------------------------------------------------

# Free text (core.text): NFKC, trimmed, no control, zero-width or bidi characters (a name shown to citizens
# and finance must read as it is stored).
Name = Annotated[FreeText, StringConstraints(min_length=1, max_length=200)]
LegalBasis = Annotated[FreeText, StringConstraints(min_length=1, max_length=300)]
# What a fee's e-receipt cites when its admin names nothing else (migration 0020's column default).
DEFAULT_LEGAL_BASIS = "Luật Phí và lệ phí số 97/2015/QH13"
ShortName = Annotated[FreeText, StringConstraints(min_length=1, max_length=50)]
Amount = Annotated[Dong, Field(gt=0, le=MAX_BIGINT, description="Whole đồng, > 0 and ≤ the amount cap")]
Budget = Annotated[Dong, Field(gt=0, le=MAX_BIGINT, description="Whole đồng")]
Moment = Annotated[BoundedDatetime, AfterValidator(_as_utc)]
FeeCode = Annotated[str, Field(pattern=FEE_CODE)]
AccountCode = Annotated[str, Field(pattern=ACCOUNT_CODE)]
Channel = Annotated[str, Field(pattern=CHANNEL, description="e.g. vneid; null = every channel")]
# What banks' systems carry: ASCII capitals, digits and a little punctuation.
HolderName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[A-Z0-9][A-Z0-9 .,&()/-]*$"
    ),
]


class FeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: FeeCode
    name_vi: Name
    name_en: Name
    amount: Amount
    agency: Name
    legal_basis: LegalBasis | None = Field(
        default=None, description=f"What the fee is collected under; default: {DEFAULT_LEGAL_BASIS}"
    )
    revenue_account: str | None = Field(
        default=None,
        max_length=200,
        pattern=FEE_REVENUE_ACCOUNT,
        description=f"{accounts.FEE_REVENUE_HINT}; default {accounts.fee_revenue('<code>')}",
    )
    collection_account_code: AccountCode
    active_from: Moment | None = Field(default=None, description="Default: now")
    active_until: Moment | None = Field(default=None, description="Exclusive end; null = open-ended")


class FeeChange(BaseModel):
    """Omitted fields stay as they are; `active_until: null` makes the fee open-ended."""

    model_config = ConfigDict(extra="forbid")
    name_vi: Name | None = None
    name_en: Name | None = None
    amount: Amount | None = None
    agency: Name | None = None
    legal_basis: LegalBasis | None = None
    collection_account_code: AccountCode | None = None
    active_from: Moment | None = None
    active_until: Moment | None = None


class SubsidyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=PROGRAMME_CODE)
    name_vi: Name
    name_en: Name
    fee_code: FeeCode
    channel: Channel | None = None
    per_request: Amount = Field(description="Paid per request (all of the fee when ≥ the fee)")
    budget_cap: Budget
    valid_from: Moment
    valid_until: Moment


class SubsidyChange(BaseModel):
    """Omitted fields stay as they are; `channel: null` opens the programme to every channel."""

    model_config = ConfigDict(extra="forbid")
    name_vi: Name | None = None
    name_en: Name | None = None
    channel: Channel | None = None
    per_request: Amount | None = None
    budget_cap: Budget | None = None
    valid_from: Moment | None = None
    valid_until: Moment | None = None


class CollectionAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: AccountCode
    bin: str = Field(pattern=BIN, description="NAPAS BIN of an active bank")
    account_number: str = Field(pattern=r"^[A-Za-z0-9]{1,19}$")
    holder_name: HolderName


class CollectionAccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holder_name: HolderName | None = None
    active: bool | None = None


# Helpers ----------------------------------------------------------------------------------------------------


@asynccontextmanager
async def mapped_transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """One transaction per action; a guard the database enforces comes back as the problem mapped to it."""
    try:
        async with conn.transaction():
            yield
    except asyncpg.PostgresError as exc:
        mapped = problem_from_database_error(exc)
        if mapped is None:
            raise
        raise mapped from None


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def changed_fields(change: BaseModel, *, nullable: set[str]) -> dict[str, Any]:
    values = {name: getattr(change, name) for name in change.model_fields_set}
    for name, value in values.items():
        if value is None and name not in nullable:
            raise ValidationFailed(f"{name} may be left out but not null", field=name, message="form.missing")
    if not values:
        raise ValidationFailed("send at least one field to change", message="catalogue.nothing_to_change")
    return values


def _check_amount(amount: int, amount_cap: int, field: str = "amount") -> None:
    if amount > amount_cap:
        raise ValidationFailed(
            f"at most {amount_cap} đồng (the amount cap)", field=field, message="catalogue.over_amount_cap"
        )


def _check_window(start: datetime, end: datetime | None, field: str) -> None:
    if end is not None and end <= start:
        raise ValidationFailed("the window must end after it starts", field=field, message="catalogue.window")


async def _active_collection_account_id(conn: asyncpg.Connection, code: str) -> int:
    account_id = await conn.fetchval("SELECT id FROM collection_accounts WHERE code = $1 AND active", code)
    if account_id is None:
        raise ValidationFailed(
            "no active collection account with this code",
            field="collection_account_code",
            message="catalogue.no_active_account",
        )
    return account_id


# Fee catalogue ----------------------------------------------------------------------------------------------

_FEE_SELECT = """SELECT f.code, f.name_vi, f.name_en, f.amount, f.agency, f.legal_basis, f.revenue_account,
                        c.code AS collection_account_code, f.active_from, f.active_until, f.created_at
                   FROM fee_catalogue f JOIN collection_accounts c ON c.id = f.collection_account_id"""


def _written(row: dict[str, Any] | None) -> dict[str, Any]:
    """A row this transaction has just written or locked; it cannot be missing."""
    assert row is not None
    return row


async def _fee(conn: asyncpg.Connection, code: str, *, lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(_FEE_SELECT + " WHERE f.code = $1" + (" FOR UPDATE OF f" if lock else ""), code)
    return dict(row) if row else None


async def fee_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_FEE_SELECT + " ORDER BY f.code")]


def fee_is_active(fee: dict[str, Any], now: datetime) -> bool:
    return fee["active_from"] <= now and (fee["active_until"] is None or now < fee["active_until"])


async def create_fee(
    conn: asyncpg.Connection, fee: FeeIn, *, actor: str, amount_cap: int, now: datetime | None = None
) -> dict[str, Any]:
    _check_amount(fee.amount, amount_cap)
    active_from = fee.active_from or now or datetime.now(UTC)
    _check_window(active_from, fee.active_until, "active_until")
    async with mapped_transaction(conn):
        account_id = await _active_collection_account_id(conn, fee.collection_account_code)
        await conn.execute(
            """INSERT INTO fee_catalogue (code, name_vi, name_en, amount, agency, revenue_account,
                   collection_account_id, active_from, active_until, legal_basis)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            fee.code,
            fee.name_vi,
            fee.name_en,
            fee.amount,
            fee.agency,
            fee.revenue_account or accounts.fee_revenue(fee.code),
            account_id,
            active_from,
            fee.active_until,
            fee.legal_basis or DEFAULT_LEGAL_BASIS,
        )
        after = _written(await _fee(conn, fee.code))
        await record_audit(
            conn, actor=actor, action="fee.create", subject=f"fee:{fee.code}", after=jsonable(after)
        )
    return after


async def update_fee(
    conn: asyncpg.Connection, code: str, change: FeeChange, *, actor: str, amount_cap: int
) -> dict[str, Any]:
    values = changed_fields(change, nullable={"active_until"})
    if "amount" in values:
        _check_amount(values["amount"], amount_cap)
    async with mapped_transaction(conn):
        before = await _fee(conn, code, lock=True)
        if before is None:
            raise NotFound("no fee with this code", field="code")
        new = {**before, **values}
        _check_window(
            new["active_from"],
            new["active_until"],
            "active_until" if "active_until" in values else "active_from",
        )
        account_id = None  # unchanged, even if that account has since been deactivated
        if new["collection_account_code"] != before["collection_account_code"]:
            account_id = await _active_collection_account_id(conn, values["collection_account_code"])
        await conn.execute(
            """UPDATE fee_catalogue SET name_vi = $2, name_en = $3, amount = $4, agency = $5,
                   collection_account_id = COALESCE($6, collection_account_id), active_from = $7,
                   active_until = $8, legal_basis = $9
             WHERE code = $1""",
            code,
            new["name_vi"],
            new["name_en"],
            new["amount"],
            new["agency"],
            account_id,
            new["active_from"],
            new["active_until"],
            new["legal_basis"],
        )
        after = _written(await _fee(conn, code))
        if after != before:
            await record_audit(
                conn,
                actor=actor,
                action="fee.update",
                subject=f"fee:{code}",
                before=jsonable(before),
                after=jsonable(after),
            )
    return after


# Subsidy programmes -----------------------------------------------------------------------------------------

_SUBSIDY_SELECT = """SELECT code, name_vi, name_en, fee_code, channel, per_request, budget_cap, budget_used,
                            valid_from, valid_until, created_at
                       FROM subsidy_programmes"""


async def _subsidy(conn: asyncpg.Connection, code: str, *, lock: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SUBSIDY_SELECT + " WHERE code = $1" + (" FOR UPDATE" if lock else ""), code)
    return dict(row) if row else None


async def subsidy_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_SUBSIDY_SELECT + " ORDER BY valid_from DESC, code")]


async def create_subsidy(
    conn: asyncpg.Connection, programme: SubsidyIn, *, actor: str, amount_cap: int
) -> dict[str, Any]:
    _check_amount(programme.per_request, amount_cap, "per_request")
    _check_window(programme.valid_from, programme.valid_until, "valid_until")
    async with mapped_transaction(conn):
        if not await conn.fetchval("SELECT true FROM fee_catalogue WHERE code = $1", programme.fee_code):
            raise ValidationFailed("no fee with this code", field="fee_code", message="catalogue.no_fee")
        await conn.execute(
            """INSERT INTO subsidy_programmes (code, name_vi, name_en, fee_code, channel, per_request,
                   budget_cap, valid_from, valid_until)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            programme.code,
            programme.name_vi,
            programme.name_en,
            programme.fee_code,
            programme.channel,
            programme.per_request,
            programme.budget_cap,
            programme.valid_from,
            programme.valid_until,
        )
        after = _written(await _subsidy(conn, programme.code))
        await record_audit(
            conn,
            actor=actor,
            action="subsidy.create",
            subject=f"subsidy:{programme.code}",
            after=jsonable(after),
        )
    return after


async def update_subsidy(
    conn: asyncpg.Connection, code: str, change: SubsidyChange, *, actor: str, amount_cap: int
) -> dict[str, Any]:
    values = changed_fields(change, nullable={"channel"})
    if "per_request" in values:
        _check_amount(values["per_request"], amount_cap, "per_request")
    async with mapped_transaction(conn):
        # The row lock makes issuers wait: budget_used cannot grow between this check and the update.
        before = await _subsidy(conn, code, lock=True)
        if before is None:
            raise NotFound("no subsidy programme with this code", field="code")
        new = {**before, **values}
        _check_window(
            new["valid_from"], new["valid_until"], "valid_until" if "valid_until" in values else "valid_from"
        )
        if new["budget_cap"] < before["budget_used"]:
            raise Conflict(
                f"the cap cannot go below the {before['budget_used']} đồng already used",
                field="budget_cap",
                message="catalogue.cap_below_used",
            )
        await conn.execute(
            """UPDATE subsidy_programmes SET name_vi = $2, name_en = $3, channel = $4, per_request = $5,
                   budget_cap = $6, valid_from = $7, valid_until = $8
             WHERE code = $1""",
            code,
            new["name_vi"],
            new["name_en"],
            new["channel"],
            new["per_request"],
            new["budget_cap"],
            new["valid_from"],
            new["valid_until"],
        )
        after = _written(await _subsidy(conn, code))
        if after != before:
            await record_audit(
                conn,
                actor=actor,
                action="subsidy.update",
                subject=f"subsidy:{code}",
                before=jsonable(before),
                after=jsonable(after),
            )
    return after


# Collection accounts ----------------------------------------------------------------------------------------

_ACCOUNT_SELECT = """SELECT a.code, a.bin, b.short_name AS bank_name, a.account_number, a.holder_name,
                            a.active
                       FROM collection_accounts a JOIN banks b ON b.bin = a.bin"""


async def _collection_account(conn: asyncpg.Connection, code: str, *, lock: bool = False) -> dict | None:
    row = await conn.fetchrow(
        _ACCOUNT_SELECT + " WHERE a.code = $1" + (" FOR UPDATE OF a" if lock else ""), code
    )
    return dict(row) if row else None


async def active_collection_account_codes(conn: asyncpg.Connection) -> list[str]:
    """Codes of the collection accounts in use, in code order (parking assigns one to each lot)."""
    rows = await conn.fetch("SELECT code FROM collection_accounts WHERE active ORDER BY code")
    return [r["code"] for r in rows]


async def collection_account_in_use(conn: asyncpg.Connection, code: str) -> bool:
    """Whether a collection account with this code exists and is active."""
    return bool(await conn.fetchval("SELECT active FROM collection_accounts WHERE code = $1", code))


async def payout_destination_problem(conn: asyncpg.Connection, bin_: str, account_number: str) -> str | None:
    """Why the city must not pay out to this account, in one round trip (a beneficiary import asks per row):
    "unknown_bank" (no such BIN on the bank list), "city_account" (one of the city's own collection
    accounts, active or not), or None."""
    problem: str | None = await conn.fetchval(
        """SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM banks WHERE bin = $1) THEN 'unknown_bank'
                       WHEN EXISTS (SELECT 1 FROM collection_accounts WHERE bin = $1 AND account_number = $2)
                       THEN 'city_account' END""",
        bin_,
        account_number,
    )
    return problem


async def collection_account_bins(conn: asyncpg.Connection, account_number: str) -> list[str]:
    """The banks (BINs) at which the city holds a collection account with this number, active or not: a bank
    statement names the account number, and money may still arrive on an account taken out of use."""
    rows = await conn.fetch(
        "SELECT bin FROM collection_accounts WHERE account_number = $1 ORDER BY bin", account_number
    )
    return [r["bin"] for r in rows]


@dataclass(frozen=True)
class StatementSource:
    """An active collection account and the active profile of its bank (where its statement comes from)."""

    bin: str
    account_number: str
    bank_code: str
    scheme: str


async def statement_sources(conn: asyncpg.Connection) -> list[StatementSource]:
    rows = await conn.fetch(
        """SELECT a.bin, a.account_number, p.code, p.scheme
             FROM collection_accounts a JOIN bank_profiles p ON p.bin = a.bin AND p.active
            WHERE a.active ORDER BY a.bin, a.account_number, p.code"""
    )
    return [StatementSource(r["bin"], r["account_number"], r["code"], r["scheme"]) for r in rows]


async def collection_account_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_ACCOUNT_SELECT + " ORDER BY a.code")]


async def create_collection_account(
    conn: asyncpg.Connection, account: CollectionAccountIn, *, actor: str
) -> dict[str, Any]:
    async with mapped_transaction(conn):
        # FOR SHARE: a concurrent deactivation of the bank waits for this insert (and then sees it).
        if not await conn.fetchval("SELECT active FROM banks WHERE bin = $1 FOR SHARE", account.bin):
            raise ValidationFailed(
                "no active bank with this BIN", field="bin", message="catalogue.no_active_bank"
            )
        await conn.execute(
            "INSERT INTO collection_accounts (code, bin, account_number, holder_name) "
            "VALUES ($1, $2, $3, $4)",
            account.code,
            account.bin,
            account.account_number,
            account.holder_name,
        )
        after = _written(await _collection_account(conn, account.code))
        await record_audit(
            conn,
            actor=actor,
            action="collection_account.create",
            subject=f"collection_account:{account.code}",
            after=after,
        )
    return after


async def update_collection_account(
    conn: asyncpg.Connection, code: str, change: CollectionAccountChange, *, actor: str
) -> dict[str, Any]:
    values = changed_fields(change, nullable=set())
    async with mapped_transaction(conn):
        before = await _collection_account(conn, code, lock=True)
        if before is None:
            raise NotFound("no collection account with this code", field="code")
        new = {**before, **values}
        reactivating = new["active"] and not before["active"]
        if reactivating and not await conn.fetchval(
            "SELECT active FROM banks WHERE bin = $1 FOR SHARE", before["bin"]
        ):
            raise Conflict("its bank is no longer active", field="active", message="catalogue.bank_inactive")
        await conn.execute(
            "UPDATE collection_accounts SET holder_name = $2, active = $3 WHERE code = $1",
            code,
            new["holder_name"],
            new["active"],
        )
        after = _written(await _collection_account(conn, code))
        if after != before:
            await record_audit(
                conn,
                actor=actor,
                action="collection_account.update",
                subject=f"collection_account:{code}",
                before=before,
                after=after,
            )
    return after
