"""Staff accounts and logins (throttled; passwords in core.passwords), sessions in HTTP-only cookies with
CSRF, who a request comes from (a session or an API token, core.tokens), and the access check every declared
endpoint runs."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
import structlog
from aiohttp import web

from core.api import Access
from core.appkeys import POOL, PRINCIPAL, SETTINGS
from core.audit import record_audit
from core.errors import Forbidden, Unauthorized, ValidationFailed
from core.passwords import MIN_PASSWORD_LENGTH, dummy_hash, hash_password, needs_rehash, verify_password
from core.session_cache import STAFF_SESSION_CACHE, forget_staff_sessions
from core.tokens import TOKEN_CACHE, TOKEN_PREFIX, cache_key, secret_digest
from core.vocabulary import ROLES, USERNAME_RE

SESSION_COOKIE = "citypay_session"
LOGIN_CSRF_COOKIE = "citypay_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

log = structlog.get_logger("citypay.auth")


@dataclass(frozen=True)
class Principal:
    kind: str  # "staff" | "token"
    id: int
    name: str
    role: str | None = None
    scopes: frozenset[str] = frozenset()
    csrf_token: str | None = None
    # Tokens only: the fee codes it may charge (None: it may create no payment request) and the channels it
    # may assert (a channel can unlock a subsidy, so it is the token's word, not the request body's).
    fee_codes: frozenset[str] | None = None
    channels: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How the audit log names who did something."""
        # Tokens by id: names are labels and need not be unique.
        return f"staff:{self.name}" if self.kind == "staff" else f"token:{self.id}"


# Staff accounts ---------------------------------------------------------------------------------------------


def validate_new_staff(username: str, display_name: str, role: str, password: str) -> None:
    if not USERNAME_RE.match(username):
        raise ValidationFailed("2–63 lower-case letters, digits, dot, dash or underscore", field="username")
    if role not in ROLES:
        raise ValidationFailed(f"role is one of {', '.join(ROLES)}", field="role")
    if not 1 <= len(display_name) <= 200:
        raise ValidationFailed("1–200 characters", field="display_name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"at least {MIN_PASSWORD_LENGTH} characters", field="password")


async def create_staff_user(
    conn: asyncpg.Connection, *, username: str, display_name: str, role: str, password: str, actor: str
) -> int:
    validate_new_staff(username, display_name, role, password)
    password_hash = await hash_password(password)
    async with conn.transaction():
        user_id = await conn.fetchval(
            """INSERT INTO staff_users (username, display_name, role, password_hash)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            username,
            display_name,
            role,
            password_hash,
        )
        await record_audit(
            conn,
            actor=actor,
            action="staff.create",
            subject=f"staff:{username}",
            after={"username": username, "display_name": display_name, "role": role},
        )
    return user_id


# Login and sessions -----------------------------------------------------------------------------------------

# Past the per-account limit, each further attempt from anywhere waits 2^k s, at most this long; addresses
# that logged this account in within KNOWN_ADDRESS_DAYS skip that account-wide wait and the per-address
# limit (only their own account+address delay applies), so failures elsewhere, or for other usernames from
# the same shared address, cannot keep the owner out.
ACCOUNT_DELAY_CAP_S = 30
KNOWN_ADDRESS_DAYS = 30
# An admin's "unlock address" is recorded as a successful attempt by this name, which no account can have
# (usernames match USERNAME_RE) and no login can succeed as: the address's failures before it stop counting
# against the address (they stay recorded; the audit log says who cleared them).
ADDRESS_UNLOCK_MARKER = ":address-unlock"


class LoginFailed(Exception):
    pass


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed logins")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginHistory:
    """Failed attempts that count against the next one (see `login_wait_seconds`)."""

    now: datetime
    address_failures: int  # from this address, any account, within the window
    address_first: datetime | None
    pair_failures: int  # this account from this address, since the window start, last success or unlock
    pair_last: datetime | None
    account_failures: int  # this account from anywhere, same start
    account_last: datetime | None
    known_address: bool  # this address logged this account in within KNOWN_ADDRESS_DAYS


def _remaining(now: datetime, since: datetime | None, wait_s: float) -> int:
    if since is None:
        return 0
    left = (since + timedelta(seconds=wait_s) - now).total_seconds()
    return max(1, math.ceil(left)) if left > 0 else 0


def login_wait_seconds(
    h: LoginHistory, *, max_per_account: int, max_per_address: int, window_minutes: int
) -> int:
    """How long the next attempt must wait (0: evaluate it). The address limit comes first and is a hard
    window, except for an account the address logged in lately: failures for other usernames from a shared
    address (a proxy, an office) must not keep its known users out. An account is never locked, only
    slowed: after `max_per_account` failures each further attempt waits 2^k s (k = failures past the limit)
    since the last failure — from the same address up to the window (known addresses too), account-wide
    up to ACCOUNT_DELAY_CAP_S and not for addresses that logged the account in lately."""
    window_s = window_minutes * 60
    if h.address_failures >= max_per_address and not h.known_address:
        return _remaining(h.now, h.address_first, window_s)
    if h.pair_failures >= max_per_account:
        wait = _remaining(h.now, h.pair_last, min(2 ** (h.pair_failures - max_per_account + 1), window_s))
        if wait:
            return wait
    if h.account_failures >= max_per_account and not h.known_address:
        exponent = min(h.account_failures - max_per_account + 1, 16)
        return _remaining(h.now, h.account_last, min(2**exponent, ACCOUNT_DELAY_CAP_S))
    return 0


def _lock_key(kind: str, value: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{kind}:{value}".encode()).digest()[:8], "big", signed=True)


_LOGIN_HISTORY_SQL = """
WITH since AS (
    SELECT greatest(
        now() - $3::interval,
        (SELECT failures_reset_at FROM staff_users WHERE username = $1),
        (SELECT max(at) FROM login_attempts WHERE username = $1 AND success AND at > now() - $3::interval)
    ) AS t
), pair AS (
    SELECT count(*) AS n, max(at) AS last FROM login_attempts, since
     WHERE username = $1 AND address = $2 AND NOT success AND at > since.t
), account AS (
    SELECT count(*) AS n, max(at) AS last FROM login_attempts, since
     WHERE username = $1 AND NOT success AND at > since.t
), by_address AS (
    SELECT count(*) AS n, min(at) AS first FROM login_attempts
     WHERE address = $2 AND NOT success
       AND at > greatest(now() - $3::interval,
                         (SELECT max(at) FROM login_attempts
                           WHERE address = $2 AND username = $5 AND success))
)
SELECT now() AS now, by_address.n AS address_failures, by_address.first AS address_first,
       pair.n AS pair_failures, pair.last AS pair_last,
       account.n AS account_failures, account.last AS account_last,
       EXISTS (SELECT 1 FROM login_attempts
                WHERE username = $1 AND username <> $5 AND address = $2 AND success
                  AND at > now() - $4::interval) AS known_address
  FROM by_address, pair, account
"""


async def login(
    pool: asyncpg.Pool,
    *,
    username: str,
    password: str,
    address: str,
    session_hours: int,
    max_per_account: int,
    max_per_address: int,
    window_minutes: int,
) -> tuple[str, Principal]:
    """Check the password (throttled per address and per account); return a new session cookie value.

    The attempt is counted, checked and recorded as a failure under locks on the address and the account
    before argon2 runs, so parallel attempts queue on the count instead of all reading the same one; a
    correct password then turns the record into a success. The password check holds no connection."""
    username = username.strip().lower()[:100]
    address = address[:100]
    async with pool.acquire() as conn, conn.transaction():
        # Address before account, always: two logins never wait on each other's locks in a cycle.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key("login-address", address))
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key("login-account", username))
        row = await conn.fetchrow(
            _LOGIN_HISTORY_SQL,
            username,
            address,
            timedelta(minutes=window_minutes),
            timedelta(days=KNOWN_ADDRESS_DAYS),
            ADDRESS_UNLOCK_MARKER,
        )
        wait = login_wait_seconds(
            LoginHistory(**dict(row)),
            max_per_account=max_per_account,
            max_per_address=max_per_address,
            window_minutes=window_minutes,
        )
        if wait:
            raise LoginThrottled(wait)
        attempt_id = await conn.fetchval(
            "INSERT INTO login_attempts (username, address, success) VALUES ($1, $2, false) RETURNING id",
            username,
            address,
        )
        user = await conn.fetchrow(
            "SELECT id, username, role, password_hash FROM staff_users WHERE username = $1 AND active",
            username,
        )
    ok = await verify_password(user["password_hash"] if user else dummy_hash(), password)
    if not ok or user is None:
        raise LoginFailed()
    new_hash = await hash_password(password) if needs_rehash(user["password_hash"]) else None
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE login_attempts SET success = true WHERE id = $1", attempt_id)
        if new_hash:
            await conn.execute(
                "UPDATE staff_users SET password_hash = $2 WHERE id = $1", user["id"], new_hash
            )
        # Only if the account is still active: an admin may have deactivated it during the password check.
        created = await conn.fetchval(
            """INSERT INTO staff_sessions (id_hash, user_id, csrf_token, expires_at)
               SELECT $1, id, $3, now() + $4::interval FROM staff_users WHERE id = $2 AND active
               RETURNING user_id""",
            secret_digest(cookie),
            user["id"],
            csrf,
            timedelta(hours=session_hours),
        )
    if created is None:
        raise LoginFailed()
    return cookie, Principal("staff", user["id"], user["username"], user["role"], csrf_token=csrf)


async def end_session(pool: asyncpg.Pool, cookie: str) -> None:
    await pool.execute("DELETE FROM staff_sessions WHERE id_hash = $1", secret_digest(cookie))
    forget_staff_sessions()  # this process refuses the cookie at once (the others hear the trigger)


def _via_trusted_proxy(request: web.Request) -> bool:
    return (request.remote or "") in request.app[SETTINGS].trusted_proxies


_warned_untrusted_forwarder = False


def _warn_untrusted_forwarder(peer: str) -> None:
    """Once per process: a peer that sends X-Forwarded-For but is not in CITYPAY_TRUSTED_PROXIES is most
    likely a reverse proxy someone forgot to list, and then every client shares its address for the login
    limits. Its address is logged only when it is a private or loopback one (a proxy, not a person)."""
    global _warned_untrusted_forwarder
    if _warned_untrusted_forwarder:
        return
    _warned_untrusted_forwarder = True
    try:
        ip = ipaddress.ip_address(peer)
        shown = peer if ip.is_private or ip.is_loopback else "(a public address)"
    except ValueError:
        shown = "(not an IP address)"
    log.warning(
        "untrusted_forwarded_for",
        peer=shown,
        hint="requests carry X-Forwarded-For from a peer not in CITYPAY_TRUSTED_PROXIES; if it is your "
        "reverse proxy, list it there, or every client shares its address and one attacker's failed logins "
        "throttle all staff",
    )


def client_address(request: web.Request) -> str:
    """The caller's address: the proxy's word for it when the request came through a trusted proxy (so the
    per-address login limit does not lock out everyone behind the load balancer)."""
    if _via_trusted_proxy(request):
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1][:100]
    elif "X-Forwarded-For" in request.headers:
        _warn_untrusted_forwarder(request.remote or "")
    return request.remote or "unknown"


def cookie_is_secure(request: web.Request) -> bool:
    mode = request.app[SETTINGS].cookie_secure
    if mode in ("true", "1"):
        return True
    if mode in ("false", "0"):
        return False
    if _via_trusted_proxy(request) and request.headers.get("X-Forwarded-Proto") == "https":
        return True
    # auto: Secure unless this is plain HTTP on the loopback interface (the `make run` demo).
    remote = request.remote or ""
    return request.secure or not (remote.startswith("127.") or remote == "::1")


def set_session_cookie(request: web.Request, response: web.StreamResponse, cookie: str) -> None:
    hours = request.app[SETTINGS].session_hours
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=hours * 3600,
        httponly=True,
        secure=cookie_is_secure(request),
        samesite="Lax",
        path="/",
    )


def _token_parts(raw: str) -> tuple[str, str] | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8:
        return None
    return prefix, secret


async def _principal_from_token(conn: asyncpg.Connection, raw: str) -> Principal | None:
    parts = _token_parts(raw)
    if parts is None:
        return None
    prefix, secret = parts
    row = await conn.fetchrow(
        "SELECT id, name, scopes, secret_hash, last_used_at, fee_codes, channels FROM api_tokens "
        "WHERE token_prefix = $1 AND revoked_at IS NULL",
        prefix,
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_digest(secret)):
        return None
    # Touch last_used_at at most once a minute so busy clients do not write on every call.
    if row["last_used_at"] is None or row["last_used_at"] < datetime.now(UTC) - timedelta(minutes=1):
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", row["id"])
    return Principal(
        "token",
        row["id"],
        row["name"],
        scopes=frozenset(row["scopes"]),
        fee_codes=frozenset(row["fee_codes"]) if row["fee_codes"] is not None else None,
        channels=frozenset(row["channels"]),
    )


async def _principal_from_session(conn: asyncpg.Connection, cookie: str) -> Principal | None:
    row = await _session_row(conn, secret_digest(cookie))
    return None if row is None else _session_principal(row)


def _session_principal(row: asyncpg.Record) -> Principal:
    return Principal("staff", row["id"], row["username"], row["role"], csrf_token=row["csrf_token"])


async def _session_row(conn: asyncpg.Connection, digest: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT u.id, u.username, u.role, s.csrf_token, s.expires_at
             FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id
            WHERE s.id_hash = $1 AND s.expires_at > now() AND u.active""",
        digest,
    )


async def _principal_from_cached_session(request: web.Request, cookie: str) -> Principal | None:
    """A session verified in the last few seconds costs no database round trip (core.session_cache)."""
    cache = request.app.get(STAFF_SESSION_CACHE)
    if cache is None:
        async with request.app[POOL].acquire() as conn:
            return await _principal_from_session(conn, cookie)
    digest = secret_digest(cookie)
    principal = cache.get(digest, datetime.now(UTC))
    if principal is not None:
        return principal
    generation = cache.generation  # before reading: a change heard meanwhile keeps this out
    async with request.app[POOL].acquire() as conn:
        row = await _session_row(conn, digest)
    if row is None:
        return None
    principal = _session_principal(row)
    cache.put(digest, principal, row["expires_at"], generation)
    return principal


async def current_principal(request: web.Request) -> Principal | None:
    if PRINCIPAL in request:
        return cast(Principal | None, request[PRINCIPAL])
    principal = None
    auth = request.headers.get("Authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if auth or cookie:
        # The scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are Bearer.
        scheme, _, credentials = auth.strip().partition(" ")
        if scheme.lower() == "bearer":
            principal = await _principal_from_cached_token(request, credentials.strip())
        elif cookie:
            principal = await _principal_from_cached_session(request, cookie)
    request[PRINCIPAL] = principal
    return principal


async def _principal_from_cached_token(request: web.Request, raw: str) -> Principal | None:
    """A token verified in the last few seconds costs no database round trip (core.tokens.TokenCache)."""
    cache = request.app.get(TOKEN_CACHE)
    if cache is None or _token_parts(raw) is None:
        async with request.app[POOL].acquire() as conn:
            return await _principal_from_token(conn, raw)
    key = cache_key(raw)
    principal = cache.get(key)
    if principal is not None:
        return principal
    generation = cache.generation  # before reading: a revocation heard meanwhile keeps this out
    async with request.app[POOL].acquire() as conn:
        principal = await _principal_from_token(conn, raw)
    if principal is not None:
        cache.put(key, principal, generation)
    return principal


def principal_of(request: web.Request) -> Principal:
    """The caller of an endpoint that has already passed `authorize`."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise Unauthorized()
    return principal


async def check_csrf(request: web.Request, expected: str | None, *, form: bool) -> None:
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and form:
        field_value = (await request.post()).get(CSRF_FIELD)
        supplied = field_value if isinstance(field_value, str) else None
    if not expected or not isinstance(supplied, str) or not hmac.compare_digest(supplied, expected):
        raise Forbidden("missing or wrong CSRF token", field=CSRF_FIELD)


async def authorize(request: web.Request, access: Access, *, form: bool = False) -> Principal:
    principal = await current_principal(request)
    if principal is None:
        raise Unauthorized(
            "log in, or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="citypay"'},
        )
    if principal.kind == "staff":
        if principal.role not in access.roles:
            raise Forbidden(f"your role ({principal.role}) may not do this; needs {access.describe()}")
        if request.method not in _SAFE_METHODS:
            await check_csrf(request, principal.csrf_token, form=form)
    elif not (principal.scopes & access.scopes):
        raise Forbidden(
            f"this token's scopes ({', '.join(sorted(principal.scopes))}) do not allow this; "
            f"needs {access.describe()}"
        )
    return principal
