"""Domain errors and the one middleware that turns every error into application/problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any, ClassVar

import asyncpg
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from core.appkeys import POOL
from core.db import database_unavailable, note_unavailable
from core.field_messages import field_message
from core.i18n import register_messages, request_language, translate
from core.json import dumps as json_dumps

log = structlog.get_logger("citypay.errors")
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Base of every error a caller may see. Subclasses fix status, a stable type slug and a vi/en title."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title_vi: ClassVar[str] = "Yêu cầu không hợp lệ"
    title_en: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        error_types: list[tuple[str, dict[str, Any]]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title_en)
        self.detail = detail
        self.message = message  # an i18n key: what a page shows a person instead of the English detail
        self.field = field
        self.errors = errors
        self.error_types = error_types  # pydantic's (type, ctx) per entry of `errors`, for their `text`
        self.headers = headers or {}
        self.extra = extra

    def sentence(self, lang: str) -> str:
        """What a page shows a person: the message key's sentence, else the first field's sentence, else the
        title. Always from the catalogue; `detail` is English for API callers and never shown on a page."""
        if self.message:
            try:  # a sentence may name the problem's own figures ("{open_exceptions} still open")
                return translate(self.message, lang, **self.sentence_values())
            except (KeyError, IndexError, ValueError):
                return translate(self.message, lang)
        if self.error_types:
            kind, ctx = self.error_types[0]
            return field_message(kind, lang, ctx)
        return self.title_en if lang == "en" else self.title_vi

    def sentence_values(self) -> dict[str, Any]:
        """The values a message's sentence may name: its extra fields (a subclass may format them)."""
        return self.extra

    @property
    def type(self) -> str:
        return f"/problems/{self.slug}"

    def body(self, lang: str = "vi", instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "title": self.title_en if lang == "en" else self.title_vi,
            "status": self.status,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.field:
            out["field"] = self.field
        out["message"] = self.sentence(lang)
        if self.errors:
            out["errors"] = self.errors
            if self.error_types and len(self.error_types) == len(self.errors):
                out["errors"] = [
                    {**e, "text": field_message(kind, lang, ctx)}
                    for e, (kind, ctx) in zip(self.errors, self.error_types, strict=True)
                ]
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


class MalformedJSON(Problem):
    slug, title_vi, title_en = "malformed-json", "Nội dung JSON không hợp lệ", "Malformed JSON body"


class MalformedHTTP(Problem):
    """A request aiohttp's HTTP parser refused before the app saw it (see answer_unparsable_with_problems)."""

    slug = "malformed-http-request"
    title_vi, title_en = "Yêu cầu HTTP không đọc được", "Malformed HTTP request"


class ValidationFailed(Problem):
    status, slug = 422, "validation-failed"
    title_vi, title_en = "Dữ liệu không hợp lệ", "Invalid input"


class Unauthorized(Problem):
    status, slug = 401, "unauthorized"
    title_vi, title_en = "Cần đăng nhập hoặc mã truy cập", "Authentication required"


class Forbidden(Problem):
    status, slug = 403, "forbidden"
    title_vi, title_en = "Không có quyền", "Not allowed for your role"


class NotFound(Problem):
    status, slug = 404, "not-found"
    title_vi, title_en = "Không tìm thấy", "Not found"


class MethodNotAllowed(Problem):
    status, slug = 405, "method-not-allowed"
    title_vi, title_en = "Phương thức không được hỗ trợ", "Method not allowed"


class Conflict(Problem):
    status, slug = 409, "conflict"
    title_vi, title_en = "Xung đột dữ liệu", "Conflict"


class IdempotencyConflict(Conflict):
    slug = "idempotency-key-reused"
    title_vi = "Idempotency-Key đã dùng cho một yêu cầu khác"
    title_en = "Idempotency-Key was used with a different request"


class PayloadTooLarge(Problem):
    status, slug = 413, "payload-too-large"
    title_vi, title_en = "Nội dung quá lớn", "Request body too large"


class UnsupportedMediaType(Problem):
    status, slug = 415, "unsupported-media-type"
    title_vi, title_en = "Kiểu nội dung không được hỗ trợ", "Unsupported content type"


class TooManyRequests(Problem):
    status, slug = 429, "too-many-requests"
    title_vi, title_en = "Quá nhiều yêu cầu", "Too many requests"


class DatabaseUnavailable(Problem):
    """The database cannot be reached right now (outage, restart, pool exhausted): try again shortly."""

    status, slug = 503, "database-unavailable"
    title_vi = "Hệ thống đang bận, vui lòng thử lại sau giây lát"
    title_en = "The system is busy, please try again in a moment"


RETRY_AFTER_S = 5  # what a client should wait before retrying during a database outage
register_messages({"error.retry": ("Thử lại", "Try again")})


class InternalError(Problem):
    status, slug = 500, "internal-error"
    title_vi, title_en = "Lỗi hệ thống", "Internal error"


_HTTP_TO_PROBLEM: dict[int, type[Problem]] = {
    400: Problem,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: TooManyRequests,
}

# Constraint names → the problem a caller should see. Packages add their own with map_constraint.
_CONSTRAINT_PROBLEMS: dict[str, tuple[type[Problem], str | None, str, str | None]] = {}


def map_constraint(
    name: str, problem: type[Problem], field: str | None, detail: str, *, message: str | None = None
) -> None:
    """A database constraint's refusal as the problem a caller sees; `message` (an i18n key) is what a form
    page shows beside the field."""
    _CONSTRAINT_PROBLEMS[name] = (problem, field, detail, message)


def mapped_constraints() -> set[str]:
    return set(_CONSTRAINT_PROBLEMS)


def problem_from_database_error(exc: asyncpg.PostgresError) -> Problem | None:
    constraint = getattr(exc, "constraint_name", None)
    if constraint and constraint in _CONSTRAINT_PROBLEMS:
        cls, field, detail, message = _CONSTRAINT_PROBLEMS[constraint]
        return cls(detail, field=field, message=message)
    return None


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    body = problem.body(request_language(request), instance=request.path)
    resp = web.Response(
        status=problem.status,
        body=json_dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
    )
    resp.headers.update(problem.headers)
    return resp


def _wants_html(request: web.Request) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


# nginx's "client closed request": the client went away before it could be answered.
CLIENT_CLOSED_STATUS = 499


def client_gone(request: web.Request) -> bool:
    """The client's connection is closed (or closing): no answer can reach it."""
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except Problem as problem:
        return await _render(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and 2xx raised by handlers pass through
        cls = _HTTP_TO_PROBLEM.get(exc.status, Problem)
        from_http = cls(exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None)
        from_http.headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        if exc.status not in _HTTP_TO_PROBLEM:
            from_http.status = exc.status  # type: ignore[misc]
        return await _render(request, from_http)
    except (RequestPayloadError, HttpProcessingError) as exc:
        # aiohttp could not read the body it was sent: a Content-Encoding that does not decode, a control
        # character in a multipart part's header. The client's fault, said without echoing its bytes.
        log.info("malformed_request_body", error=type(exc).__name__)
        return await _render(request, MalformedHTTP(_UNREADABLE_BODY))
    except ConnectionResetError as exc:
        if not client_gone(request):
            return await _unexpected(request, exc)  # another connection of ours broke (a bank's, say)
        # The client hung up before its body arrived: nobody to answer, nothing done, nothing failed here.
        # Answered (to no one) and counted as 499, nginx's "client closed request", never as a 500.
        log.info("client_closed_request", error=str(exc)[:100])
        return web.Response(status=CLIENT_CLOSED_STATUS, reason="Client Closed Request")
    except Exception as exc:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        # One warning per outage (core.db.OutageLog), not a traceback per request.
        note_unavailable(request.app.get(POOL), exc)
        return await _render(request, DatabaseUnavailable(headers={"Retry-After": str(RETRY_AFTER_S)}))


async def _unexpected(request: web.Request, exc: Exception) -> web.StreamResponse:
    if isinstance(exc, asyncpg.PostgresError):
        mapped = problem_from_database_error(exc)
        if mapped is not None:
            return await _render(request, mapped)
        if exc.sqlstate == "22021":  # a NUL byte the input checks did not catch (a form field, a header)
            return await _render(request, ValidationFailed("text may not contain NUL characters"))
        log.error("database_error", sqlstate=exc.sqlstate, exc_info=exc)
        return await _render(request, InternalError())
    log.error("unhandled_error", exc_info=exc)
    return await _render(request, InternalError())


async def _render(request: web.Request, problem: Problem) -> web.StreamResponse:
    if _wants_html(request) and problem.status == 401 and request.method == "GET":
        # A person opening a staff page without a session: take them to the login form, then back here.
        from urllib.parse import quote

        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
    if _wants_html(request):
        from core.pages import render_error_page  # pages import errors; keep this edge lazy

        page = render_error_page(request, problem)
        page.headers.update(problem.headers)  # Retry-After, Allow: a person's browser is told too
        return page
    return problem_response(problem, request)


_UNREADABLE_BODY = (
    "the request's body could not be read: a Content-Encoding it is not in, or a malformed multipart part"
)
# What the parser refused, said without echoing the client's bytes (a refused line may be a credential's).
_UNPARSABLE = {
    400: "the request is not valid HTTP/1.1: a malformed line or header, a control character, a header or "
    "line too long, or a malformed chunked body",
    413: "the request body is too large",
    431: "the request's headers are too large",
}


def answer_unparsable_with_problems() -> None:
    """aiohttp answers a request its parser refuses (a control character in a header, a line over its limit,
    a malformed chunked body) itself, before the app's middlewares, in text/plain, and logs a traceback. Make
    that answer application/problem+json like every other refusal, and log one line without the client's
    bytes. Errors after parsing (5xx) keep aiohttp's handling. Called at import of core/middleware.py."""
    from aiohttp.web_protocol import RequestHandler

    original = RequestHandler.handle_error
    if getattr(original, "_citypay", False):
        return

    def handle_error(self, request, status=500, exc=None, message=None):
        if not 400 <= status < 500 or request.writer.output_size > 0:
            return original(self, request, status, exc, message)
        log.info(
            "malformed_http_request",
            status=status,
            error=type(exc).__name__ if exc is not None else None,
            remote=request.remote,
        )
        problem = MalformedHTTP(_UNPARSABLE.get(status, _UNPARSABLE[400]))
        problem.status = status
        resp = problem_response(problem, request)
        resp.force_close()
        return resp

    handle_error._citypay = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
