"""Admin page for API tokens: list, create (bound to fee codes and channels; the secret shown once), revoke.
The same rules as the admin API and `create-token`: they all go through core.auth.create_api_token."""

from __future__ import annotations

from aiohttp import web

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import create_api_token, principal_of, revoke_api_token
from core.errors import NotFound, Problem
from core.i18n import register_messages, request_language
from core.pages import render_html, run_form_action

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
    }
)


def _comma_list(value: object) -> list[str] | None:
    items = [v.strip() for v in str(value or "").split(",") if v.strip()]
    return items or None


async def _tokens_page(
    request: web.Request,
    *,
    error: str | None = None,
    saved: bool = False,
    status: int = 200,
    values=None,
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
        error=error,
        saved=saved,
        status=status,
        values=values or {},
        new_token=new_token,
    )


@routes.get("/admin/tokens", access=ADMIN, summary="API tokens page", in_openapi=False, produces="text/html")
async def tokens_admin_page(request: web.Request) -> web.Response:
    return await _tokens_page(request, saved=request.query.get("saved") == "1")


@routes.post(
    "/admin/tokens",
    access=ADMIN,
    summary="Create an API token (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def token_create_form(request: web.Request) -> web.Response:
    """Not run_form_action: the secret must be shown on this answer, never carried through a redirect."""
    form = await request.post()
    try:
        async with request.app[POOL].acquire() as conn:
            _, secret = await create_api_token(
                conn,
                name=str(form.get("name") or "").strip(),
                scopes=_comma_list(form.get("scopes")) or [],
                fee_codes=_comma_list(form.get("fee_codes")),
                channels=_comma_list(form.get("channels")),
                actor=principal_of(request).actor,
            )
    except Problem as problem:
        text = problem.detail or (problem.title_en if request_language(request) == "en" else problem.title_vi)
        return await _tokens_page(
            request,
            error=f"{problem.field}: {text}" if problem.field else text,
            status=problem.status,
            values=form,
        )
    return await _tokens_page(request, status=201, new_token=secret)


@routes.post(
    "/admin/tokens/{token_id:[0-9]{1,18}}/revoke",
    access=ADMIN,
    summary="Revoke an API token (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def token_revoke_form(request: web.Request) -> web.Response:
    token_id = int(request.match_info["token_id"])
    actor = principal_of(request).actor

    async def action(conn, form):
        if not await revoke_api_token(conn, token_id=token_id, actor=actor):
            raise NotFound("no active token with this id", field="token_id")

    return await run_form_action(request, action, page=_tokens_page, back="/admin/tokens")
