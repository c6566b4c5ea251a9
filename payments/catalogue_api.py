"""The admin JSON API of the fee catalogue, subsidy programmes, collection accounts and bank BINs: thin
handlers over payments.catalogue and payments.bank_directory, answers built from the response models below."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL, SETTINGS
from core.auth import principal_of
from core.errors import NotFound
from core.responses import ResponseModel, Timestamp, json_response
from payments import bank_directory, catalogue
from payments.bank_directory import BankChange
from payments.catalogue import (
    CollectionAccountChange,
    CollectionAccountIn,
    FeeChange,
    FeeIn,
    SubsidyChange,
    SubsidyIn,
)

routes = Routes(tags=("catalogue",))
ADMIN = staff("admin")
READERS = staff("admin", "finance")
FEE_PATH = "{code:[A-Z0-9][A-Z0-9_-]{1,30}}"
PROGRAMME_PATH = "{code:[a-z0-9][a-z0-9_-]{1,40}}"
ACCOUNT_PATH = "{code:[a-z0-9][a-z0-9_-]{1,40}}"

# Response models --------------------------------------------------------------------------------------------


class FeeOut(ResponseModel):
    code: str
    name_vi: str
    name_en: str
    amount: int
    agency: str
    legal_basis: str
    revenue_account: str
    collection_account_code: str
    active_from: Timestamp
    active_until: Timestamp | None
    created_at: Timestamp
    active_now: bool


class FeeList(ResponseModel):
    items: list[FeeOut]


class SubsidyOut(ResponseModel):
    code: str
    name_vi: str
    name_en: str
    fee_code: str
    channel: str | None
    per_request: int
    budget_cap: int
    budget_used: int
    budget_remaining: int
    valid_from: Timestamp
    valid_until: Timestamp
    created_at: Timestamp
    open_now: bool


class SubsidyList(ResponseModel):
    items: list[SubsidyOut]


class CollectionAccountOut(ResponseModel):
    code: str
    bin: str
    bank_name: str
    account_number: str
    holder_name: str
    active: bool


class CollectionAccountList(ResponseModel):
    items: list[CollectionAccountOut]


class BankOut(ResponseModel):
    bin: str
    short_name: str
    name: str
    active: bool
    updated_at: Timestamp


class BankList(ResponseModel):
    items: list[BankOut]


def fee_out(fee: dict[str, Any], now: datetime) -> FeeOut:
    return FeeOut(**fee, active_now=catalogue.fee_is_active(fee, now))


def subsidy_out(programme: dict[str, Any], now: datetime) -> SubsidyOut:
    return SubsidyOut(
        **programme,
        budget_remaining=programme["budget_cap"] - programme["budget_used"],
        open_now=programme["valid_from"] <= now < programme["valid_until"],
    )


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _cap(request: web.Request) -> int:
    return request.app[SETTINGS].amount_cap


# Fee catalogue ----------------------------------------------------------------------------------------------


@routes.get("/api/v1/admin/fees", access=READERS, summary="List the fee catalogue", response=FeeList)
async def get_fees(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fees = await catalogue.fee_list(conn)
    return json_response(FeeList(items=[fee_out(f, now) for f in fees]))


@routes.post(
    "/api/v1/admin/fees",
    access=ADMIN,
    summary="Add a fee to the catalogue",
    body=FeeIn,
    response=FeeOut,
    status=201,
    responses={409: "Code taken"},
)
async def post_fee(request: web.Request, body: FeeIn) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fee = await catalogue.create_fee(conn, body, actor=_actor(request), amount_cap=_cap(request), now=now)
    return json_response(fee_out(fee, now), status=201)


@routes.put(
    f"/api/v1/admin/fees/{FEE_PATH}",
    access=ADMIN,
    summary="Change a fee (requests already issued keep their amount)",
    body=FeeChange,
    response=FeeOut,
)
async def put_fee(request: web.Request, body: FeeChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        fee = await catalogue.update_fee(
            conn, request.match_info["code"], body, actor=_actor(request), amount_cap=_cap(request)
        )
    return json_response(fee_out(fee, request.app[CLOCK].now()))


# Subsidy programmes -----------------------------------------------------------------------------------------


@routes.get(
    "/api/v1/admin/subsidies", access=READERS, summary="List subsidy programmes", response=SubsidyList
)
async def get_subsidies(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        programmes = await catalogue.subsidy_list(conn)
    return json_response(SubsidyList(items=[subsidy_out(p, now) for p in programmes]))


@routes.post(
    "/api/v1/admin/subsidies",
    access=ADMIN,
    summary="Create a subsidy programme",
    body=SubsidyIn,
    response=SubsidyOut,
    status=201,
    responses={409: "Code taken"},
)
async def post_subsidy(request: web.Request, body: SubsidyIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        programme = await catalogue.create_subsidy(
            conn, body, actor=_actor(request), amount_cap=_cap(request)
        )
    return json_response(subsidy_out(programme, request.app[CLOCK].now()), status=201)


@routes.put(
    f"/api/v1/admin/subsidies/{PROGRAMME_PATH}",
    access=ADMIN,
    summary="Change a subsidy programme (the cap never below the budget used)",
    body=SubsidyChange,
    response=SubsidyOut,
    responses={409: "Cap below the budget already used"},
)
async def put_subsidy(request: web.Request, body: SubsidyChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        programme = await catalogue.update_subsidy(
            conn, request.match_info["code"], body, actor=_actor(request), amount_cap=_cap(request)
        )
    return json_response(subsidy_out(programme, request.app[CLOCK].now()))


# Collection accounts and banks ------------------------------------------------------------------------------


@routes.get(
    "/api/v1/admin/collection-accounts",
    access=READERS,
    summary="List the city's collection accounts",
    response=CollectionAccountList,
)
async def get_collection_accounts(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        accounts = await catalogue.collection_account_list(conn)
    return json_response(CollectionAccountList(items=[CollectionAccountOut(**a) for a in accounts]))


@routes.post(
    "/api/v1/admin/collection-accounts",
    access=ADMIN,
    summary="Register a collection account",
    body=CollectionAccountIn,
    response=CollectionAccountOut,
    status=201,
    responses={409: "Code or account already registered"},
)
async def post_collection_account(request: web.Request, body: CollectionAccountIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        account = await catalogue.create_collection_account(conn, body, actor=_actor(request))
    return json_response(CollectionAccountOut(**account), status=201)


@routes.put(
    f"/api/v1/admin/collection-accounts/{ACCOUNT_PATH}",
    access=ADMIN,
    summary="Rename the holder of, deactivate or reactivate a collection account",
    body=CollectionAccountChange,
    response=CollectionAccountOut,
    responses={409: "Its bank is inactive"},
)
async def put_collection_account(request: web.Request, body: CollectionAccountChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        account = await catalogue.update_collection_account(
            conn, request.match_info["code"], body, actor=_actor(request)
        )
    return json_response(CollectionAccountOut(**account))


@routes.get("/api/v1/admin/banks", access=READERS, summary="List bank BINs", response=BankList)
async def get_banks(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        banks = await bank_directory.bank_list(conn)
    return json_response(BankList(items=[BankOut(**b) for b in banks]))


@routes.put(
    "/api/v1/admin/banks/{bin:[0-9]+}",
    access=ADMIN,
    summary="Rename, deactivate or reactivate a bank BIN",
    body=BankChange,
    response=BankOut,
    responses={409: "Active collection accounts use the bank"},
)
async def put_bank(request: web.Request, body: BankChange) -> web.Response:
    bin_ = request.match_info["bin"]
    if not re.fullmatch(r"[0-9]{6}", bin_):
        raise NotFound("no bank with this BIN", field="bin")
    async with request.app[POOL].acquire() as conn:
        bank = await bank_directory.update_bank(conn, bin_, body, actor=_actor(request))
    return json_response(BankOut(**bank))
