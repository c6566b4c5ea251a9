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
    current_principal,
    end_session,
    login,
    principal_of,
    set_session_cookie,
)
from core.errors import Forbidden
from core.i18n import LANG_COOKIE, LANGUAGES, request_language, translate
from core.pages import render_html

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
    return render_html(request, "public_home.html", links=request.app[PUBLIC_LINKS])


def _login_page(
    request: web.Request, *, error: str | None = None, username: str = "", status: int = 200
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = render_html(
        request,
        "login.html",
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
            error=translate("login.throttled", lang, minutes=exc.retry_after_s // 60),
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
    return render_html(request, "staff_home.html", display_name=display_name, links=links)


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
