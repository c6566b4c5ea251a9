"""Pages every user meets: the public home, staff login/logout, the staff home, and the language toggle."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from core.api import PUBLIC, Routes, staff
from core.appkeys import POOL, PUBLIC_LINKS, SETTINGS, STAFF_LINKS
from core.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginFailed,
    LoginThrottled,
    client_address,
    cookie_is_secure,
    create_staff_user,
    current_principal,
    end_session,
    login,
    principal_of,
    set_session_cookie,
)
from core.errors import Forbidden
from core.i18n import LANG_COOKIE, LANGUAGES, register_messages, request_language, translate
from core.pages import render_html, run_form_action
from core.staff import (
    activate_staff_user,
    address_failures,
    deactivate_staff_user,
    reset_staff_password,
    revoke_staff_sessions,
    staff_states,
    unlock_address,
    unlock_staff_user,
)

routes = Routes(tags=("pages",))
ALL_ROLES = ("admin", "attendant", "finance", "approver")


def _safe_next(value: str | None, default: str = "/staff") -> str:
    """Only same-site paths: a login form must not redirect people to another site."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    return value


@routes.get("/", access=PUBLIC, summary="Public home", in_openapi=False, produces="text/html")
async def public_home(request: web.Request) -> web.Response:
    await current_principal(request)
    return render_html(request, "core/public_home.html", links=request.app[PUBLIC_LINKS])


def _login_page(
    request: web.Request, *, error: str | None = None, username: str = "", status: int = 200
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = render_html(
        request,
        "core/login.html",
        status=status,
        error=error,
        username=username,
        login_csrf=token,
        next=_safe_next(request.query.get("next")),
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=cookie_is_secure(request),
        path="/login",
        max_age=3600,
    )
    return resp


@routes.get("/login", access=PUBLIC, summary="Staff login page", in_openapi=False, produces="text/html")
async def login_page(request: web.Request) -> web.Response:
    if await current_principal(request):
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return _login_page(request)


def _wait_text(seconds: int, lang: str) -> str:
    if seconds < 120:
        return translate("wait.seconds", lang, n=seconds)
    return translate("wait.minutes", lang, n=-(-seconds // 60))


@routes.post("/login", access=PUBLIC, summary="Staff login", in_openapi=False, produces="text/html")
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    lang = request_language(request)
    username = str(form.get("username", ""))[:100]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    supplied = str(form.get("csrf_token", ""))
    if not expected or not hmac.compare_digest(expected, supplied):
        return _login_page(request, error=translate("login.csrf", lang), username=username, status=403)
    settings = request.app[SETTINGS]
    try:
        cookie, _ = await login(
            request.app[POOL],
            username=username,
            password=str(form.get("password", "")),
            address=client_address(request),
            session_hours=settings.session_hours,
            max_per_account=settings.login_max_failures_per_account,
            max_per_address=settings.login_max_failures_per_address,
            window_minutes=settings.login_window_minutes,
        )
    except LoginThrottled as exc:
        resp = _login_page(
            request,
            username=username,
            status=429,
            error=translate("login.throttled", lang, wait=_wait_text(exc.retry_after_s, lang)),
        )
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp
    except LoginFailed:
        return _login_page(request, error=translate("login.failed", lang), username=username, status=401)
    resp = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    set_session_cookie(request, resp, cookie)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


@routes.post(
    "/logout", access=staff(*ALL_ROLES), summary="Log out", in_openapi=False, form=True, produces="text/html"
)
async def logout(request: web.Request) -> web.Response:
    await end_session(request.app[POOL], request.cookies[SESSION_COOKIE])
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


@routes.get("/staff", access=staff(*ALL_ROLES), summary="Staff home", in_openapi=False, produces="text/html")
async def staff_home(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.kind != "staff":
        raise Forbidden("staff pages need a staff login")
    display_name = await request.app[POOL].fetchval(
        "SELECT display_name FROM staff_users WHERE id = $1", principal.id
    )
    links = [link for link in request.app[STAFF_LINKS] if principal.role in link["roles"]]
    return render_html(request, "core/staff_home.html", display_name=display_name, links=links)


@routes.get("/lang/{code}", access=PUBLIC, summary="Switch language", in_openapi=False, produces="text/html")
async def switch_language(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    resp = web.HTTPSeeOther(_safe_next(request.query.get("next"), default="/"))
    if code in LANGUAGES:
        # A year: the choice sticks across visits and logins.
        resp.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            path="/",
            secure=cookie_is_secure(request),
        )
    raise resp


# Admin: staff accounts --------------------------------------------------------------------------------------

ADMIN = staff("admin")
_USER = "{username:[a-z0-9][a-z0-9._-]{1,62}}"

register_messages(
    {
        "wait.seconds": ("{n} giây", "{n} seconds"),
        "wait.minutes": ("{n} phút", "{n} minutes"),
        "staff.title": ("Tài khoản nhân viên", "Staff accounts"),
        "staff.saved": ("Đã lưu.", "Saved."),
        "staff.username": ("Tên đăng nhập", "Username"),
        "staff.display_name": ("Họ tên", "Name"),
        "staff.role": ("Vai trò", "Role"),
        "staff.state": ("Trạng thái", "State"),
        "staff.active": ("Đang hoạt động", "Active"),
        "staff.inactive": ("Đã vô hiệu hóa", "Deactivated"),
        "staff.sessions": ("Phiên đăng nhập", "Sessions"),
        "staff.failures_24h": ("Đăng nhập sai trong 24 giờ", "Failed logins, last 24 h"),
        "staff.failures_recent": (
            "Đang tính vào độ trễ (từ lần đăng nhập đúng hoặc mở khóa gần nhất)",
            "Counting toward the delay (since the last success or unlock)",
        ),
        "staff.deactivate": ("Vô hiệu hóa tài khoản", "Deactivate"),
        "staff.activate": ("Kích hoạt lại tài khoản", "Reactivate"),
        "staff.revoke_sessions": ("Đăng xuất mọi phiên", "Revoke all sessions"),
        "staff.unlock": ("Mở khóa: xóa lần đăng nhập sai", "Unlock: clear failed logins"),
        "staff.addresses": ("Địa chỉ đăng nhập sai (24 giờ)", "Addresses with failed logins (24 h)"),
        "staff.address": ("Địa chỉ", "Address"),
        "staff.address_window": ("Đang tính vào giới hạn địa chỉ", "Counting toward the address limit"),
        "staff.unlock_address": ("Mở khóa địa chỉ", "Unlock address"),
        "staff.addresses_none": ("Không có.", "None."),
        "staff.new_password": ("Mật khẩu mới (ít nhất 10 ký tự)", "New password (10 characters or more)"),
        "staff.reset_password": ("Đặt lại mật khẩu", "Reset password"),
        "staff.create": ("Tạo tài khoản", "Create an account"),
        "staff.password": ("Mật khẩu (ít nhất 10 ký tự)", "Password (10 characters or more)"),
    }
)


async def _staff_page(
    request: web.Request, *, error: str | None = None, saved: bool = False, status: int = 200, values=None
) -> web.Response:
    window = request.app[SETTINGS].login_window_minutes
    async with request.app[POOL].acquire() as conn:
        accounts = await staff_states(conn, window_minutes=window)
        addresses = await address_failures(conn, window_minutes=window)
    return render_html(
        request,
        "core/admin_staff.html",
        accounts=accounts,
        addresses=addresses,
        roles=ALL_ROLES,
        error=error,
        saved=saved,
        status=status,
        values=values or {},
    )


@routes.get(
    "/admin/staff", access=ADMIN, summary="Staff accounts page", in_openapi=False, produces="text/html"
)
async def staff_admin_page(request: web.Request) -> web.Response:
    return await _staff_page(request, saved=request.query.get("saved") == "1")


def _form_text(form, name: str) -> str:
    return str(form.get(name) or "").strip()


@routes.post(
    "/admin/staff",
    access=ADMIN,
    summary="Create a staff account (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_create_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        await create_staff_user(
            conn,
            username=_form_text(form, "username"),
            display_name=_form_text(form, "display_name"),
            role=_form_text(form, "role"),
            password=str(form.get("password") or ""),
            actor=principal_of(request).actor,
        )

    return await run_form_action(request, action, page=_staff_page, back="/admin/staff", keep_values=True)


async def _account_action(request: web.Request, change) -> web.Response:
    username = request.match_info["username"]
    actor = principal_of(request).actor

    async def action(conn, form):
        await change(conn, form, username=username, actor=actor)

    return await run_form_action(request, action, page=_staff_page, back="/admin/staff")


@routes.post(
    f"/admin/staff/{_USER}/deactivate",
    access=ADMIN,
    summary="Deactivate a staff account (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_deactivate_form(request: web.Request) -> web.Response:
    return await _account_action(request, lambda conn, _f, **kw: deactivate_staff_user(conn, **kw))


@routes.post(
    f"/admin/staff/{_USER}/activate",
    access=ADMIN,
    summary="Reactivate a staff account (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_activate_form(request: web.Request) -> web.Response:
    return await _account_action(request, lambda conn, _f, **kw: activate_staff_user(conn, **kw))


@routes.post(
    f"/admin/staff/{_USER}/reset-password",
    access=ADMIN,
    summary="Reset a staff password (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_reset_password_form(request: web.Request) -> web.Response:
    return await _account_action(
        request,
        lambda conn, f, **kw: reset_staff_password(conn, password=str(f.get("password") or ""), **kw),
    )


@routes.post(
    f"/admin/staff/{_USER}/revoke-sessions",
    access=ADMIN,
    summary="Revoke a user's sessions (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_revoke_sessions_form(request: web.Request) -> web.Response:
    return await _account_action(request, lambda conn, _f, **kw: revoke_staff_sessions(conn, **kw))


@routes.post(
    f"/admin/staff/{_USER}/unlock",
    access=ADMIN,
    summary="Clear a user's failed logins (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_unlock_form(request: web.Request) -> web.Response:
    return await _account_action(request, lambda conn, _f, **kw: unlock_staff_user(conn, **kw))


@routes.post(
    "/admin/staff/unlock-address",
    access=ADMIN,
    summary="Clear an address's failed logins (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def staff_unlock_address_form(request: web.Request) -> web.Response:
    actor = principal_of(request).actor
    window = request.app[SETTINGS].login_window_minutes

    async def action(conn, form):
        await unlock_address(conn, address=_form_text(form, "address"), actor=actor, window_minutes=window)

    return await run_form_action(request, action, page=_staff_page, back="/admin/staff")
