"""Admin page for API tokens: list, create (bound to fee codes and channels; the secret shown once), revoke.
The same rules as the admin API and `create-token`: they all go through core.tokens.create_api_token."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationInfo, model_validator

from core.admin_api import TokenIn
from core.api import Routes, path_id, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.errors import Conflict
from core.forms import EMPTY_FORM, FormState, NoFields
from core.i18n import register_messages
from core.pages import render_html
from core.tokens import create_api_token, revoke_api_token

routes = Routes(tags=("pages",))
ADMIN = staff("admin")

register_messages(
    {
        "tokens.title": ("Mã truy cập API", "API tokens"),
        "tokens.saved": ("Đã lưu.", "Saved."),
        "tokens.name": ("Tên (hệ thống, cơ quan)", "Name (system, agency)"),
        "tokens.prefix": ("Tiền tố", "Prefix"),
        "tokens.scopes": ("Quyền (cách nhau bởi dấu phẩy)", "Scopes (comma-separated)"),
        "tokens.fee_codes": (
            "Mã phí được thu (cách nhau bởi dấu phẩy)",
            "Fee codes it may charge (comma-separated)",
        ),
        "tokens.channels": ("Kênh được khai (vd. vneid)", "Channels it may assert (e.g. vneid)"),
        "tokens.fee_codes_note": (
            "Bắt buộc với payment-requests:write; để trống với các quyền khác.",
            "Required with payment-requests:write; leave empty otherwise.",
        ),
        "tokens.created": ("Tạo bởi / lúc", "Created by / at"),
        "tokens.last_used": ("Dùng lần cuối", "Last used"),
        "tokens.revoked": ("Đã thu hồi", "Revoked"),
        "tokens.revoke": ("Thu hồi", "Revoke"),
        "tokens.create": ("Tạo mã truy cập", "Create a token"),
        "tokens.shown_once": (
            "Mã truy cập mới — chỉ hiển thị một lần, hãy lưu ngay:",
            "The new token — shown this once, store it now:",
        ),
        "tokens.none": ("—", "—"),
        "tokens.not_active": ("Mã này đã bị thu hồi.", "This token is already revoked."),
    }
)


class TokenForm(TokenIn):
    """The admin API's token model, from a form: scopes, fee codes and channels typed comma-separated."""

    @model_validator(mode="before")
    @classmethod
    def _split_commas(cls, data: Any, info: ValidationInfo) -> Any:
        if not (isinstance(data, dict) and info.context and info.context.get("form")):
            return data
        out = dict(data)
        for name in ("scopes", "fee_codes", "channels"):
            typed = out.get(name)
            if isinstance(typed, list):
                items = [part.strip() for text in typed for part in str(text).split(",") if part.strip()]
                if items:
                    out[name] = items
                else:
                    out.pop(name)
        return out


async def _tokens_page(
    request: web.Request,
    *,
    form: FormState = EMPTY_FORM,
    status: int = 200,
    new_token: str | None = None,
) -> web.Response:
    rows = await request.app[POOL].fetch(
        "SELECT id, name, token_prefix, scopes, fee_codes, channels, created_by, created_at, last_used_at, "
        "revoked_at FROM api_tokens ORDER BY revoked_at IS NOT NULL, id DESC"
    )
    return render_html(
        request,
        "core/admin_tokens.html",
        tokens=rows,
        form=form,
        saved=request.query.get("saved") == "1" and not form.failed,
        status=status,
        new_token=new_token,
    )


@routes.get("/admin/tokens", access=ADMIN, summary="API tokens page", in_openapi=False, produces="text/html")
async def tokens_admin_page(request: web.Request) -> web.Response:
    return await _tokens_page(request)


@routes.form_post(
    "/admin/tokens",
    access=ADMIN,
    summary="Create an API token (form)",
    form=TokenForm,
    page=_tokens_page,
)
async def token_create_form(request: web.Request, form: TokenForm) -> web.Response:
    """Answers with the page, not a redirect: the secret must be shown on this answer, never carried through
    a redirect."""
    async with request.app[POOL].acquire() as conn:
        _, secret = await create_api_token(
            conn,
            name=form.name,
            scopes=form.scopes,
            fee_codes=form.fee_codes,
            channels=form.channels,
            actor=principal_of(request).actor,
        )
    return await _tokens_page(request, status=201, new_token=secret)


@routes.form_post(
    "/admin/tokens/{token_id:[0-9]{1,18}}/revoke",
    access=ADMIN,
    summary="Revoke an API token (form)",
    page=_tokens_page,
)
async def token_revoke_form(request: web.Request, form: NoFields) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        if not await revoke_api_token(
            conn, token_id=path_id(request, "token_id"), actor=principal_of(request).actor
        ):
            raise Conflict("no active token with this id", field="token_id", message="tokens.not_active")
    raise web.HTTPSeeOther("/admin/tokens?saved=1")
