"""The admin JSON API of bank profiles and their keys (payments/bank_profiles.py)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from core.api import Routes, staff
from core.appkeys import KEYS, POOL
from core.auth import principal_of
from core.responses import ResponseModel, Timestamp, json_response
from payments.bank_profiles import (
    BankKeyIn,
    BankProfileIn,
    add_bank_key,
    bank_profile_list,
    create_bank_profile,
    retire_bank_key,
    set_bank_profile_active,
)

routes = Routes(tags=("bank-profiles",))
ADMIN = staff("admin")


class BankKeyOut(ResponseModel):
    key_id: str
    kind: str
    created_at: Timestamp
    retired_at: Timestamp | None


class BankProfileOut(ResponseModel):
    code: str
    name: str
    bin: str
    scheme: str
    tolerance_s: int
    credited_account: str | None
    merchant_code: str | None
    active: bool
    keys: list[BankKeyOut]


class BankProfileList(ResponseModel):
    items: list[BankProfileOut]


async def _profile_out(conn: asyncpg.Connection, code: str, *, status: int = 200) -> web.Response:
    (profile,) = await bank_profile_list(conn, code)
    return json_response(BankProfileOut(**profile), status=status)


@routes.get(
    "/api/v1/admin/bank-profiles", access=ADMIN, summary="List bank profiles", response=BankProfileList
)
async def list_profiles(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return json_response(
            BankProfileList(items=[BankProfileOut(**p) for p in await bank_profile_list(conn)])
        )


@routes.post(
    "/api/v1/admin/bank-profiles",
    access=ADMIN,
    summary="Register a bank or gateway",
    body=BankProfileIn,
    response=BankProfileOut,
    status=201,
    responses={409: "Code taken"},
)
async def create_profile(request: web.Request, body: BankProfileIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_bank_profile(conn, body, actor=principal_of(request).actor)
        return await _profile_out(conn, body.code, status=201)


@routes.post(
    "/api/v1/admin/bank-profiles/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/keys",
    access=ADMIN,
    summary="Add a key (at most two active)",
    body=BankKeyIn,
    response=BankProfileOut,
    status=201,
    responses={409: "Two keys already active, or key id taken"},
)
async def add_key(request: web.Request, body: BankKeyIn) -> web.Response:
    code = request.match_info["bank_code"]
    async with request.app[POOL].acquire() as conn:
        await add_bank_key(conn, request.app[KEYS], code, body, actor=principal_of(request).actor)
        return await _profile_out(conn, code, status=201)


@routes.delete(
    "/api/v1/admin/bank-profiles/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/keys/{key_id:[A-Za-z0-9._-]{1,64}}",
    access=ADMIN,
    summary="Retire a key",
    response=BankProfileOut,
)
async def retire_key(request: web.Request) -> web.Response:
    code = request.match_info["bank_code"]
    async with request.app[POOL].acquire() as conn:
        await retire_bank_key(conn, code, request.match_info["key_id"], actor=principal_of(request).actor)
        return await _profile_out(conn, code)


@routes.post(
    "/api/v1/admin/bank-profiles/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/activate",
    access=ADMIN,
    summary="Activate a bank profile (it needs an active key)",
    response=BankProfileOut,
    responses={409: "No active key"},
)
async def activate_profile(request: web.Request) -> web.Response:
    return await _set_active(request, True)


@routes.post(
    "/api/v1/admin/bank-profiles/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/deactivate",
    access=ADMIN,
    summary="Deactivate a bank profile (its callbacks are then refused)",
    response=BankProfileOut,
)
async def deactivate_profile(request: web.Request) -> web.Response:
    return await _set_active(request, False)


async def _set_active(request: web.Request, active: bool) -> web.Response:
    code = request.match_info["bank_code"]
    async with request.app[POOL].acquire() as conn:
        await set_bank_profile_active(conn, code, active, actor=principal_of(request).actor)
        return await _profile_out(conn, code)
