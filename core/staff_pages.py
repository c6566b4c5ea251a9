"""Pages every user meets: the public home, staff login/logout, the staff home, and the language toggle."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel

from core.admin_api import AddressIn, PasswordIn, StaffIn
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
from core.forms import EMPTY_FORM, FormState, NoFields
from core.i18n import LANG_COOKIE, LANGUAGES, register_messages, request_language, translate
from core.pages import render_html
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
from core.vocabulary import ROLES, USERNAME_PATH

routes = Routes(tags=("pages",))
ALL_ROLES = ROLES


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
    request: web.Request,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
    next_path: str | None = None,
) -> web.Response:
    """`next_path`: where the form was to lead (a refused POST carries it in the form, not the query)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = render_html(
        request,
        "core/login.html",
        status=status,
        error=error,
        username=username,
        login_csrf=token,
        next=_safe_next(next_path if next_path is not None else request.query.get("next")),
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
    next_path = str(form.get("next", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    supplied = str(form.get("csrf_token", ""))
    if not expected or not hmac.compare_digest(expected, supplied):
        return _login_page(
            request, error=translate("login.csrf", lang), username=username, status=403, next_path=next_path
        )
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
            next_path=next_path,
            error=translate("login.throttled", lang, wait=_wait_text(exc.retry_after_s, lang)),
        )
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp
    except LoginFailed:
        return _login_page(
            request, error=translate("login.failed", lang), username=username, status=401, next_path=next_path
        )
    resp = web.HTTPSeeOther(_safe_next(next_path))
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
_USER = USERNAME_PATH

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
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
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
        form=form,
        saved=request.query.get("saved") == "1" and not form.failed,
        status=status,
    )


@routes.get(
    "/admin/staff", access=ADMIN, summary="Staff accounts page", in_openapi=False, produces="text/html"
)
async def staff_admin_page(request: web.Request) -> web.Response:
    return await _staff_page(request)


def _staff_form(path: str, summary: str, model: type[BaseModel] | None = None):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=_staff_page)


def _saved() -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/admin/staff?saved=1")


@_staff_form("/admin/staff", "Create a staff account (form)", StaffIn)
async def staff_create_form(request: web.Request, form: StaffIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_staff_user(
            conn,
            username=form.username,
            display_name=form.display_name,
            role=form.role,
            password=form.password,
            actor=principal_of(request).actor,
        )
    raise _saved()


async def _account_change(request: web.Request, change, **extra) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await change(
            conn, username=request.match_info["username"], actor=principal_of(request).actor, **extra
        )
    raise _saved()


@_staff_form(f"/admin/staff/{_USER}/deactivate", "Deactivate a staff account (form)")
async def staff_deactivate_form(request: web.Request, form: NoFields) -> web.Response:
    return await _account_change(request, deactivate_staff_user)


@_staff_form(f"/admin/staff/{_USER}/activate", "Reactivate a staff account (form)")
async def staff_activate_form(request: web.Request, form: NoFields) -> web.Response:
    return await _account_change(request, activate_staff_user)


@_staff_form(f"/admin/staff/{_USER}/reset-password", "Reset a staff password (form)", PasswordIn)
async def staff_reset_password_form(request: web.Request, form: PasswordIn) -> web.Response:
    return await _account_change(request, reset_staff_password, password=form.password)


@_staff_form(f"/admin/staff/{_USER}/revoke-sessions", "Revoke a user's sessions (form)")
async def staff_revoke_sessions_form(request: web.Request, form: NoFields) -> web.Response:
    return await _account_change(request, revoke_staff_sessions)


@_staff_form(f"/admin/staff/{_USER}/unlock", "Clear a user's failed logins (form)")
async def staff_unlock_form(request: web.Request, form: NoFields) -> web.Response:
    return await _account_change(request, unlock_staff_user)


@_staff_form("/admin/staff/unlock-address", "Clear an address's failed logins (form)", AddressIn)
async def staff_unlock_address_form(request: web.Request, form: AddressIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await unlock_address(
            conn,
            address=form.address,
            actor=principal_of(request).actor,
            window_minutes=request.app[SETTINGS].login_window_minutes,
        )
    raise _saved()
