"""Admin API for staff accounts and API tokens (tokens are shown once, at creation)."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import POOL, SETTINGS
from core.auth import create_staff_user, principal_of
from core.errors import Conflict, NotFound, map_constraint
from core.responses import ResponseModel, Timestamp, json_response
from core.staff import (
    activate_staff_user,
    address_failures,
    deactivate_staff_user,
    reset_staff_password,
    revoke_staff_sessions,
    staff_state,
    unlock_address,
    unlock_staff_user,
)
from core.tokens import create_api_token, revoke_api_token
from core.vocabulary import USERNAME_PATH, Role, Username

routes = Routes(tags=("admin",))
ADMIN = staff("admin")

map_constraint("staff_users_username_key", Conflict, "username", "this username is taken")


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=10, max_length=200)


class StaffOut(ResponseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool


class StaffList(ResponseModel):
    items: list[StaffOut]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20)
    fee_codes: list[str] | None = Field(
        default=None,
        max_length=200,
        description="Fee codes the token may charge; required with payment-requests:write, refused without",
    )
    channels: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Channels (e.g. vneid) the token may assert; subsidies may need one",
    )


class TokenOut(ResponseModel):
    id: int
    name: str
    scopes: list[str]
    fee_codes: list[str] | None
    channels: list[str]
    prefix: str
    created_by: str
    created_at: Timestamp
    revoked_at: Timestamp | None = None
    last_used_at: Timestamp | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret, shown this once; only its hash is stored.")


class TokenList(ResponseModel):
    items: list[TokenOut]


@routes.get("/api/v1/admin/staff", access=ADMIN, summary="List staff accounts", response=StaffList)
async def list_staff(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch(
        "SELECT id, username, display_name, role, active FROM staff_users ORDER BY username"
    )
    return json_response(StaffList(items=[StaffOut.model_validate(dict(r)) for r in rows]))


@routes.post(
    "/api/v1/admin/staff",
    access=ADMIN,
    summary="Create a staff account",
    body=StaffIn,
    response=StaffOut,
    status=201,
    responses={409: "Username taken"},
)
async def create_staff(request: web.Request, body: StaffIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        user_id = await create_staff_user(
            conn,
            username=body.username,
            display_name=body.display_name,
            role=body.role,
            password=body.password,
            actor=principal_of(request).actor,
        )
    out = StaffOut(
        id=user_id, username=body.username, display_name=body.display_name, role=body.role, active=True
    )
    return json_response(out, status=201)


# Staff management: deactivate, reactivate, reset a password, revoke sessions, clear failed logins --------

_STAFF = "/api/v1/admin/staff/" + USERNAME_PATH


class StaffStateOut(StaffOut):
    deactivated_at: Timestamp | None
    sessions: int = Field(description="Live sessions")
    recent_failures: int = Field(description="Failed logins since the window start, last success or unlock")
    failures_24h: int = Field(description="Every failed login in the last 24 h, whatever came after")
    sessions_revoked: int = Field(0, description="Sessions this change ended")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=10, max_length=200)


async def _staff_change(request: web.Request, change, **kw) -> web.Response:
    username = request.match_info["username"]
    async with request.app[POOL].acquire() as conn:
        ended = await change(conn, username=username, actor=principal_of(request).actor, **kw)
        state = await staff_state(conn, username, window_minutes=request.app[SETTINGS].login_window_minutes)
    return json_response(StaffStateOut(**asdict(state), sessions_revoked=ended or 0))


@routes.post(
    _STAFF + "/deactivate",
    access=ADMIN,
    summary="Deactivate a staff account: no more logins, its sessions end now",
    response=StaffStateOut,
    responses={404: "No such account", 409: "Your own account, or the last active admin"},
)
async def deactivate_staff(request: web.Request) -> web.Response:
    return await _staff_change(request, deactivate_staff_user)


@routes.post(
    _STAFF + "/activate",
    access=ADMIN,
    summary="Reactivate a staff account",
    response=StaffStateOut,
    responses={404: "No such account"},
)
async def activate_staff(request: web.Request) -> web.Response:
    return await _staff_change(request, activate_staff_user)


@routes.post(
    _STAFF + "/reset-password",
    access=ADMIN,
    summary="Set a new password for a staff account and end its sessions",
    body=PasswordIn,
    response=StaffStateOut,
    responses={404: "No such account"},
)
async def reset_staff_password_api(request: web.Request, body: PasswordIn) -> web.Response:
    return await _staff_change(request, reset_staff_password, password=body.password)


@routes.post(
    _STAFF + "/revoke-sessions",
    access=ADMIN,
    summary="End every session of a staff account",
    response=StaffStateOut,
    responses={404: "No such account"},
)
async def revoke_staff_sessions_api(request: web.Request) -> web.Response:
    return await _staff_change(request, revoke_staff_sessions)


@routes.post(
    _STAFF + "/unlock",
    access=ADMIN,
    summary="Clear an account's failed logins (their delay); login-addresses/unlock clears an address",
    response=StaffStateOut,
    responses={404: "No such account"},
)
async def unlock_staff(request: web.Request) -> web.Response:
    return await _staff_change(request, unlock_staff_user)


# Login addresses: which fail logins, and clearing one (e.g. a shared proxy address an attacker filled) ------


class AddressFailuresOut(ResponseModel):
    address: str
    window_failures: int = Field(description="Failed logins counting against the address now")
    failures_24h: int = Field(description="Every failed login from the address in the last 24 h")


class AddressFailuresList(ResponseModel):
    items: list[AddressFailuresOut]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=100, description="As the login limits see it")


class AddressUnlockOut(ResponseModel):
    address: str
    cleared: AddressFailuresOut = Field(description="The address's counts before the unlock")


@routes.get(
    "/api/v1/admin/login-addresses",
    access=ADMIN,
    summary="The addresses with the most failed logins in the last 24 h",
    response=AddressFailuresList,
)
async def list_login_addresses(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await address_failures(conn, window_minutes=request.app[SETTINGS].login_window_minutes)
    return json_response(AddressFailuresList(items=[AddressFailuresOut(**asdict(r)) for r in rows]))


@routes.post(
    "/api/v1/admin/login-addresses/unlock",
    access=ADMIN,
    summary="Clear an address's failed logins (the per-address limit); accounts keep their own delays",
    body=AddressIn,
    response=AddressUnlockOut,
)
async def unlock_login_address(request: web.Request, body: AddressIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        before = await unlock_address(
            conn,
            address=body.address,
            actor=principal_of(request).actor,
            window_minutes=request.app[SETTINGS].login_window_minutes,
        )
    return json_response(
        AddressUnlockOut(address=before.address, cleared=AddressFailuresOut(**asdict(before)))
    )


_TOKEN_COLUMNS = (
    "id, name, scopes, fee_codes, channels, token_prefix AS prefix, created_by, created_at, revoked_at, "  # noqa: S105 (column list)
    "last_used_at"
)


@routes.get(
    "/api/v1/admin/tokens", access=ADMIN, summary="List API tokens (never their secrets)", response=TokenList
)
async def list_tokens(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY id")
    return json_response(TokenList(items=[TokenOut.model_validate(dict(r)) for r in rows]))


@routes.post(
    "/api/v1/admin/tokens",
    access=ADMIN,
    summary="Create an API token",
    body=TokenIn,
    response=TokenCreated,
    status=201,
)
async def create_token(request: web.Request, body: TokenIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        token_id, secret = await create_api_token(
            conn,
            name=body.name,
            scopes=body.scopes,
            fee_codes=body.fee_codes,
            channels=body.channels,
            actor=principal_of(request).actor,
        )
        row = await conn.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1", token_id)
    return json_response(TokenCreated.model_validate(dict(row) | {"token": secret}), status=201)


@routes.delete(
    "/api/v1/admin/tokens/{token_id:[0-9]+}", access=ADMIN, summary="Revoke an API token", response=TokenOut
)
async def revoke_token(request: web.Request) -> web.Response:
    token_id = path_id(request, "token_id")
    async with request.app[POOL].acquire() as conn:
        if not await revoke_api_token(conn, token_id=token_id, actor=principal_of(request).actor):
            raise NotFound("no active token with this id", field="token_id")
        row = await conn.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1", token_id)
    return json_response(TokenOut.model_validate(dict(row)))
