"""Bank profiles and their keys (admin): public keys for citypay-bank-v1, HMAC secrets (stored encrypted) for
VNPay and payOS; two active keys at once for rotation, older ones retired.

A profile is created inactive and can be activated only while it has an active key (the database refuses
otherwise); a profile whose last key was retired refuses every callback until a new key is added."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from aiohttp import web
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, staff
from core.appkeys import KEYS, POOL
from core.audit import record_audit
from core.auth import principal_of
from core.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
    map_constraint,
)
from core.i18n import register_messages
from core.keys import AppKeys
from core.pages import render_html, run_form_action
from core.pii import encrypt_pii
from payments.banks import SCHEMES, load_bank_public_key, scheme_named
from payments.banks.event import MIN_SECRET_CHARS, CallbackRejected
from payments.callbacks import SECRET_CONTEXT

routes = Routes(tags=("bank-profiles",))
ADMIN = staff("admin")

map_constraint("bank_profiles_pkey", Conflict, "code", "a bank profile with this code exists")
map_constraint(
    "bank_keys_bank_code_key_id_key", Conflict, "key_id", "this bank already has a key with this id"
)
map_constraint("bank_keys_two_active", Conflict, "key_id", "the bank already has two active keys; retire one")
map_constraint("bank_profiles_bin_fkey", ValidationFailed, "bin", "unknown bank BIN")
map_constraint(
    "bank_profiles_active_needs_key",
    Conflict,
    "active",
    "a bank profile can be active only with an active key or secret: add one first",
)
map_constraint(
    "bank_profiles_gateway_account",
    ValidationFailed,
    "credited_account",
    "a gateway profile needs the account it credits",
)


class BankProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    name: str = Field(min_length=1, max_length=200)
    bin: str = Field(pattern=r"^[0-9]{6}$")
    scheme: str = Field(description="A registered bank scheme: citypay-bank-v1, vnpay or payos")
    tolerance_s: int = Field(default=300, ge=30, le=3600)
    credited_account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,19}$")
    merchant_code: str | None = Field(default=None, max_length=64)


class BankKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    public_key_pem: str | None = Field(default=None, max_length=4000, description="Ed25519 or RSA public key")
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        max_length=256,
        description="HMAC secret for VNPay/payOS; stored encrypted, never shown again",
    )


class BankKeyOut(BaseModel):
    key_id: str
    kind: str
    created_at: datetime
    retired_at: datetime | None


class BankProfileOut(BaseModel):
    code: str
    name: str
    bin: str
    scheme: str
    tolerance_s: int
    credited_account: str | None
    merchant_code: str | None
    active: bool
    keys: list[BankKeyOut]


class BankProfileList(BaseModel):
    items: list[BankProfileOut]


async def create_bank_profile(conn: asyncpg.Connection, body: BankProfileIn, *, actor: str) -> None:
    if body.scheme not in SCHEMES:
        raise ValidationFailed(f"one of {', '.join(sorted(SCHEMES))}", field="scheme")
    if SCHEMES[body.scheme].credits_profile_account and body.credited_account is None:
        raise ValidationFailed("a gateway profile needs the account it credits", field="credited_account")
    async with conn.transaction():
        if body.credited_account is not None and not await conn.fetchval(
            "SELECT true FROM collection_accounts WHERE bin = $1 AND account_number = $2",
            body.bin,
            body.credited_account,
        ):
            # A gateway credits the account its profile names: it must be a city account at that bank.
            raise ValidationFailed(
                "not a registered collection account at this bank", field="credited_account"
            )
        await conn.execute(
            """INSERT INTO bank_profiles
                   (code, name, bin, scheme, tolerance_s, credited_account, merchant_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            body.code,
            body.name,
            body.bin,
            body.scheme,
            body.tolerance_s,
            body.credited_account,
            body.merchant_code,
        )
        await record_audit(
            conn,
            actor=actor,
            action="bank_profile.create",
            subject=f"bank:{body.code}",
            after=body.model_dump(),
        )


async def add_bank_key(
    conn: asyncpg.Connection, keys: AppKeys, bank_code: str, body: BankKeyIn, *, actor: str
) -> None:
    async with conn.transaction():
        scheme = await conn.fetchval("SELECT scheme FROM bank_profiles WHERE code = $1 FOR UPDATE", bank_code)
        if scheme is None:
            raise NotFound("no such bank profile", field="bank_code")
        if scheme_named(scheme).key_kind == "public_key":
            if not body.public_key_pem or body.secret:
                raise ValidationFailed(f"{scheme} banks register a public key", field="public_key_pem")
            try:
                key = _registrable_key(body.public_key_pem)
            except CallbackRejected as exc:
                raise ValidationFailed(
                    exc.detail or "not a usable public key", field="public_key_pem"
                ) from None
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                # A PEM that does not parse, RSA under 2048 bits, EC or DSA keys: bad input, not a 500.
                raise ValidationFailed(_key_problem(exc), field="public_key_pem") from None
            kind = "ed25519" if type(key).__name__.startswith("Ed25519") else "rsa-pss-sha256"
            pem, secret = body.public_key_pem, None
        else:
            if not body.secret or body.public_key_pem:
                raise ValidationFailed(f"{scheme} profiles register a shared secret", field="secret")
            kind, pem, secret = "hmac", None, encrypt_pii(keys, body.secret, context=SECRET_CONTEXT)
        await conn.execute(
            "INSERT INTO bank_keys (bank_code, key_id, kind, public_key_pem, secret_encrypted) "
            "VALUES ($1, $2, $3, $4, $5)",
            bank_code,
            body.key_id,
            kind,
            pem,
            secret,
        )
        await record_audit(
            conn,
            actor=actor,
            action="bank_key.add",
            subject=f"bank:{bank_code}",
            after={"key_id": body.key_id, "kind": kind},
        )


def _registrable_key(pem: str):
    """What docs/bank-protocol.md §3 allows: a SubjectPublicKeyInfo PEM of Ed25519, or RSA of 2048–4096 bits
    with the public exponent 65537 (a small exponent has a history of signature forgeries)."""
    if not pem.lstrip().startswith("-----BEGIN PUBLIC KEY-----"):
        raise ValueError("a SubjectPublicKeyInfo PEM (-----BEGIN PUBLIC KEY-----) is expected")
    key = load_bank_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey) and key.public_numbers().e != 65537:
        raise ValueError("RSA keys must use the public exponent 65537")
    return key


def _key_problem(exc: Exception) -> str:
    text = str(exc)
    if "Ed25519 or RSA" in text:
        return "bank keys must be Ed25519, or RSA of 2048 to 4096 bits"
    if "65537" in text or "SubjectPublicKeyInfo" in text:
        return text
    return "not a PEM public key (-----BEGIN PUBLIC KEY-----, Ed25519 or RSA 2048–4096 bits)"


async def set_bank_profile_active(
    conn: asyncpg.Connection, bank_code: str, active: bool, *, actor: str
) -> None:
    """Turn a profile on (only with an active key: the database checks) or off (it then answers 404)."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT active FROM bank_profiles WHERE code = $1 FOR UPDATE", bank_code)
        if before is None:
            raise NotFound("no such bank profile", field="bank_code")
        if before == active:
            return
        await conn.execute("UPDATE bank_profiles SET active = $2 WHERE code = $1", bank_code, active)
        await record_audit(
            conn,
            actor=actor,
            action="bank_profile.activate" if active else "bank_profile.deactivate",
            subject=f"bank:{bank_code}",
            before={"active": before},
            after={"active": active},
        )


async def retire_bank_key(conn: asyncpg.Connection, bank_code: str, key_id: str, *, actor: str) -> None:
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE bank_keys SET retired_at = now() "
            "WHERE bank_code = $1 AND key_id = $2 AND retired_at IS NULL RETURNING true",
            bank_code,
            key_id,
        )
        if not done:
            raise NotFound("no active key with this id", field="key_id")
        await record_audit(
            conn,
            actor=actor,
            action="bank_key.retire",
            subject=f"bank:{bank_code}",
            before={"key_id": key_id},
        )


async def _profile_json(conn: asyncpg.Connection, code: str | None = None) -> list[dict]:
    rows = await conn.fetch(
        "SELECT * FROM bank_profiles WHERE $1::text IS NULL OR code = $1 ORDER BY code", code
    )
    keys = await conn.fetch(
        "SELECT bank_code, key_id, kind, created_at, retired_at FROM bank_keys ORDER BY id"
    )
    out = []
    for r in rows:
        item = {
            k: r[k]
            for k in (
                "code",
                "name",
                "bin",
                "scheme",
                "tolerance_s",
                "credited_account",
                "merchant_code",
                "active",
            )
        }
        item["keys"] = [
            {
                "key_id": k["key_id"],
                "kind": k["kind"],
                "created_at": k["created_at"].isoformat(),
                "retired_at": k["retired_at"].isoformat() if k["retired_at"] else None,
            }
            for k in keys
            if k["bank_code"] == r["code"]
        ]
        out.append(item)
    return out


@routes.get(
    "/api/v1/admin/bank-profiles", access=ADMIN, summary="List bank profiles", response=BankProfileList
)
async def list_profiles(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response({"items": await _profile_json(conn)})


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
        return web.json_response((await _profile_json(conn, body.code))[0], status=201)


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
        return web.json_response((await _profile_json(conn, code))[0], status=201)


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
        return web.json_response((await _profile_json(conn, code))[0])


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
        return web.json_response((await _profile_json(conn, code))[0])


# Admin page -------------------------------------------------------------------------------------------------

register_messages(
    {
        "banks.title": ("Ngân hàng và cổng thanh toán", "Banks and gateways"),
        "banks.code": ("Mã", "Code"),
        "banks.name": ("Tên", "Name"),
        "banks.scheme": ("Giao thức", "Scheme"),
        "banks.keys": ("Khóa", "Keys"),
        "banks.active_key": ("đang dùng", "active"),
        "banks.retired": ("đã thu hồi", "retired"),
        "banks.retire": ("Thu hồi", "Retire"),
        "banks.add_key": ("Thêm khóa", "Add key"),
        "banks.key_id": ("Mã khóa", "Key id"),
        "banks.public_key": ("Khóa công khai (PEM)", "Public key (PEM)"),
        "banks.secret": ("Khóa bí mật dùng chung (VNPay/payOS)", "Shared secret (VNPay/payOS)"),
        "banks.create": ("Đăng ký ngân hàng", "Register a bank"),
        "banks.credited_account": ("Tài khoản nhận (cổng thanh toán)", "Credited account (gateways)"),
        "banks.merchant_code": ("Mã website (VNPay TmnCode)", "Merchant code (VNPay TmnCode)"),
        "banks.tolerance": ("Dung sai thời gian (giây)", "Timestamp tolerance (s)"),
        "banks.saved": ("Đã lưu.", "Saved."),
        "banks.inactive": (
            "Chưa kích hoạt: mọi thông báo từ ngân hàng này bị từ chối.",
            "Inactive: every callback from this bank is refused.",
        ),
        "banks.no_key": (
            "Không có khóa đang dùng: mọi thông báo bị từ chối.",
            "No active key: every callback is refused.",
        ),
        "banks.activate": ("Kích hoạt", "Activate"),
        "banks.add_key_first": (
            "Thêm một khóa bên dưới rồi mới kích hoạt được.",
            "Add a key below before activating.",
        ),
        "banks.deactivate": ("Ngừng kích hoạt", "Deactivate"),
        "link.banks": ("Ngân hàng và khóa", "Banks and keys"),
    }
)


def _form_value(form, name: str) -> str | None:
    value = form.get(name)
    return str(value).strip() if value not in (None, "") else None


async def _banks_page(
    request: web.Request, *, error: str | None = None, saved: bool = False, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        profiles = await _profile_json(conn)
        bins = await conn.fetch("SELECT bin, short_name FROM banks WHERE active ORDER BY short_name")
    return render_html(
        request,
        "payments/admin_banks.html",
        profiles=profiles,
        bins=bins,
        schemes=sorted(SCHEMES),
        error=error,
        saved=saved,
        status=status,
    )


@routes.get(
    "/admin/banks", access=ADMIN, summary="Bank profiles page", in_openapi=False, produces="text/html"
)
async def banks_page(request: web.Request) -> web.Response:
    return await _banks_page(request, saved=request.query.get("saved") == "1")


async def _run_form(request: web.Request, action) -> web.Response:
    return await run_form_action(request, action, page=_banks_page, back="/admin/banks")


@routes.post(
    "/admin/banks",
    access=ADMIN,
    summary="Register a bank (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def banks_create_form(request: web.Request) -> web.Response:
    form = await request.post()

    async def action(conn, _form):
        body = BankProfileIn.model_validate(
            {
                "code": _form_value(form, "code"),
                "name": _form_value(form, "name"),
                "bin": _form_value(form, "bin"),
                "scheme": _form_value(form, "scheme"),
                "tolerance_s": _form_value(form, "tolerance_s") or "300",
                "credited_account": _form_value(form, "credited_account"),
                "merchant_code": _form_value(form, "merchant_code"),
            }
        )
        await create_bank_profile(conn, body, actor=principal_of(request).actor)

    return await _run_form(request, action)


@routes.post(
    "/admin/banks/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/keys",
    access=ADMIN,
    summary="Add a key (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def banks_add_key_form(request: web.Request) -> web.Response:
    form = await request.post()

    async def action(conn, _form):
        body = BankKeyIn.model_validate(
            {
                "key_id": _form_value(form, "key_id"),
                "public_key_pem": _form_value(form, "public_key_pem"),
                "secret": _form_value(form, "secret"),
            }
        )
        await add_bank_key(
            conn, request.app[KEYS], request.match_info["bank_code"], body, actor=principal_of(request).actor
        )

    return await _run_form(request, action)


@routes.post(
    "/admin/banks/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/keys/{key_id:[A-Za-z0-9._-]{1,64}}/retire",
    access=ADMIN,
    summary="Retire a key (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def banks_retire_key_form(request: web.Request) -> web.Response:
    async def action(conn, _form):
        await retire_bank_key(
            conn,
            request.match_info["bank_code"],
            request.match_info["key_id"],
            actor=principal_of(request).actor,
        )

    return await _run_form(request, action)


async def _activation_form(request: web.Request, active: bool) -> web.Response:
    async def action(conn, _form):
        await set_bank_profile_active(
            conn, request.match_info["bank_code"], active, actor=principal_of(request).actor
        )

    return await _run_form(request, action)


@routes.post(
    "/admin/banks/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/activate",
    access=ADMIN,
    summary="Activate a bank profile (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def banks_activate_form(request: web.Request) -> web.Response:
    return await _activation_form(request, True)


@routes.post(
    "/admin/banks/{bank_code:[a-z0-9][a-z0-9-]{1,30}}/deactivate",
    access=ADMIN,
    summary="Deactivate a bank profile (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def banks_deactivate_form(request: web.Request) -> web.Response:
    return await _activation_form(request, False)
