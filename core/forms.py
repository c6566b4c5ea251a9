"""HTML forms as declared routes: `routes.post(path, form=Model, page=painter)`.

A form post is read into the same pydantic model the JSON API validates, in the "form" validation context:
there the shared field types accept what people type (đồng as "1.234.567", Hà Nội local date-times from a
`datetime-local` input, dates as 31/12/2026), while the JSON API stays strict. The route wrapper
(`core.api`) checks the session's CSRF token, then calls `serve_form`: on a refusal — from validation, from
the service (a `Problem`), or from a database constraint — the page is painted again with each message next to
its field, in the reader's language, with what was typed kept. A caller never sees the API's English detail
text on a page.

A page painter is `async def paint(request, *, form: FormState, status: int) -> web.Response`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.auth import CSRF_FIELD
from core.errors import PayloadTooLarge, Problem, ValidationFailed, problem_from_database_error
from core.field_messages import error_type, field_message
from core.i18n import request_language

FORM_CONTEXT = {
    "form": True
}  # the validation context the field types read (core.money.Dong, core.timebounds)

MAX_FORM_FIELD_CHARS = 10_000

PagePainter = Callable[..., Awaitable[web.Response]]


# Reading a form ---------------------------------------------------------------------------------------------


def _is_multi(annotation: Any) -> bool:
    """A list/tuple/set field takes every value of a repeated key (checkboxes, multi-selects)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_multi(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_multi(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin in (list, tuple, set, frozenset)


def _field_names(model: type[BaseModel]) -> dict[str, bool]:
    """Every name the model takes (field names and aliases) → whether it is multi-valued."""
    names: dict[str, bool] = {}
    for name, info in model.model_fields.items():
        multi = _is_multi(info.annotation)
        names[name] = multi
        if info.alias:
            names[info.alias] = multi
    return names


@dataclass
class PostedForm:
    values: dict[str, Any]  # what the model is validated with (empty inputs left out)
    typed: dict[str, str]  # what was typed, to fill the form again
    # Fields refused before validation (sent twice, a NUL, too long): (field_messages type, its context)
    refused: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


async def read_form(request: web.Request, model: type[BaseModel]) -> PostedForm:
    """The posted fields the model knows; other keys (a submit button's name, the CSRF token) are ignored.
    An empty input counts as not given, so a default applies or "missing" is reported. A key sent twice
    for a single-valued field is refused, as in the JSON API, and so is a NUL or an over-long value: each in
    `refused`, so the page shows the form again with the message beside the field."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise ValidationFailed("send the form as application/x-www-form-urlencoded")
    try:
        posted = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the form may be at most {request.client_max_size} bytes") from None
    names = _field_names(model)
    form = PostedForm({}, {})
    for key in set(posted.keys()):
        if key not in names or key == CSRF_FIELD:
            continue
        raw = [v for v in posted.getall(key) if isinstance(v, str)]
        if any(len(value) > MAX_FORM_FIELD_CHARS for value in raw):
            form.refused[key] = ("string_too_long", {"max_length": MAX_FORM_FIELD_CHARS})
            continue  # not typed back either: the page would carry it again
        if any("\x00" in value for value in raw):
            form.refused[key] = ("invisible_characters", {})
            raw = [value.replace("\x00", "") for value in raw]
        if names[key]:
            form.values[key] = [v for v in raw if v.strip()]
            form.typed[key] = ", ".join(raw)
            continue
        if len(raw) > 1:
            form.refused.setdefault(key, ("given_twice", {}))
        if raw:
            form.typed[key] = raw[0]
            if raw[0].strip():
                form.values[key] = raw[0]
    return form


# What a page shows ------------------------------------------------------------------------------------------


@dataclass
class FormState:
    """A form's state for its page: which form was posted (`action`, its path), what was typed, and the
    messages — per field, and one for the form as a whole — in the reader's language."""

    action: str | None = None
    typed: Mapping[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    summary: str | None = None

    def error(self, name: str, action: str | None = None) -> str | None:
        if action is not None and action != self.action:
            return None
        return self.errors.get(name)

    def value(self, name: str, default: Any = "", action: str | None = None) -> Any:
        if action is not None and action != self.action:
            return default
        return self.typed.get(name, default)

    def posted_to(self, action: str) -> bool:
        return self.action == action

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.summary)


EMPTY_FORM = FormState()


# Each refused field gets its sentence from core/field_messages.py (by pydantic error type).
def _state_from_validation(exc: ValidationError, posted: PostedForm, lang: str, action: str) -> FormState:
    state = FormState(action=action, typed=posted.typed)
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else ""
        message = field_message(error_type(err), lang, err.get("ctx"))
        if name and name not in state.errors:
            state.errors[name] = message
        elif not name and state.summary is None:
            state.summary = message
    return state


def problem_text(problem: Problem, lang: str) -> str:
    """A service refusal for a person: its message key if it has one, else its title — never the English
    `detail`, which is written for API callers."""
    if problem.message:
        return problem.sentence(lang)  # the message, with the problem's own figures filled in
    return problem.title_en if lang == "en" else problem.title_vi


def _state_from_problem(problem: Problem, posted: PostedForm, fields: set[str], action: str, lang: str):
    state = FormState(action=action, typed=posted.typed)
    text = problem_text(problem, lang)
    if problem.field and problem.field.split(".")[0] in fields:
        state.errors[problem.field.split(".")[0]] = text
    else:
        state.summary = text
    return state


async def serve_form(
    request: web.Request,
    model: type[BaseModel],
    handler: Callable[..., Awaitable[web.StreamResponse]],
    page: PagePainter,
    kwargs: dict[str, Any],
) -> web.StreamResponse:
    """Validate the posted form into `model` and call the handler with `form=`; any refusal paints the page
    again (status as an API caller would get it: 422, 409, …). A redirect or response from the handler is the
    success path."""
    lang = request_language(request)
    posted = await read_form(request, model)
    action = request.path
    if posted.refused:
        state = FormState(action=action, typed=posted.typed)
        state.errors.update({k: field_message(kind, lang, ctx) for k, (kind, ctx) in posted.refused.items()})
        return await page(request, form=state, status=422)
    try:
        parsed = model.model_validate(posted.values, context=FORM_CONTEXT)
    except ValidationError as exc:
        return await page(request, form=_state_from_validation(exc, posted, lang, action), status=422)
    try:
        return await handler(request, form=parsed, **kwargs)
    except ValidationError as exc:
        return await page(request, form=_state_from_validation(exc, posted, lang, action), status=422)
    except Problem as problem:
        if problem.status in (401, 403, 404) or problem.status >= 500:
            raise  # not the typist's to fix: the usual error page
        state = _state_from_problem(problem, posted, set(_field_names(model)), action, lang)
        return await page(request, form=state, status=problem.status)
    except asyncpg.PostgresError as exc:
        mapped = problem_from_database_error(exc)
        if mapped is None:
            raise
        state = _state_from_problem(mapped, posted, set(_field_names(model)), action, lang)
        return await page(request, form=state, status=mapped.status)


class NoFields(BaseModel):
    """The form of a button that posts nothing but its CSRF token (log out, retire, revoke)."""
