"""Declared endpoints: who may call them, the pydantic models they validate with, and the OpenAPI document.

Handlers are registered through `Routes`; the same declaration drives access checks, input validation and
`/openapi.json`, so the document cannot drift from what the handlers accept.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from core.appkeys import ENDPOINT
from core.errors import (
    MalformedJSON,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from core.vocabulary import ROLES

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """Who may call an endpoint: anyone, staff with one of `roles`, or API tokens with one of `scopes`."""

    public: bool = False
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def describe(self) -> str:
        if self.public:
            return "public"
        parts = []
        if self.roles:
            parts.append("staff roles: " + ", ".join(sorted(self.roles)))
        if self.scopes:
            parts.append("token scopes: " + ", ".join(sorted(self.scopes)))
        return "; ".join(parts)


PUBLIC = Access(public=True)


def staff(*roles: str, scopes: tuple[str, ...] = ()) -> Access:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    return Access(roles=frozenset(roles), scopes=frozenset(scopes))


def token(*scopes: str) -> Access:
    return Access(scopes=frozenset(scopes))


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    produces: str = "application/json"
    responses: dict[int, str] = field(default_factory=dict)
    # A status whose body is not problem+json but this model (e.g. /readyz's 503 answers its Readiness).
    response_models: dict[int, type[BaseModel]] = field(default_factory=dict)
    in_openapi: bool = True
    # An HTML form post (CSRF-checked, urlencoded): a model to read it into (core/forms.py) with the `page`
    # that paints the form again on a refusal; `True` only for a handler that reads the body itself (login).
    form: type[BaseModel] | bool = False
    page: Callable[..., Awaitable[web.Response]] | None = None
    idempotent: bool = False  # requires an Idempotency-Key header (see core/idempotency.py)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Registry:
    """All endpoints of the app; the auth test walks it route by route."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def add(self, app: web.Application, routes: Routes) -> None:
        for ep in routes.endpoints:
            if isinstance(ep.form, type) and ep.page is None:
                raise ValueError(f"{ep.operation_id}: a form route needs the page that shows its errors")
            self.endpoints.append(ep)
            app.router.add_route(ep.method, ep.path, _wrap(ep), name=ep.operation_id)

    def find(self, method: str, path_pattern: str) -> Endpoint | None:
        for ep in self.endpoints:
            if ep.method == method and ep.path == path_pattern:
                return ep
        return None


class Routes:
    """Like aiohttp's RouteTableDef, but every route states its access and models."""

    def __init__(self, *, tags: tuple[str, ...] = ()) -> None:
        self.endpoints: list[Endpoint] = []
        self.tags = tags

    def route(self, method: str, path: str, *, access: Access, summary: str, **kw: Any):
        def decorator(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method, path, handler, access, summary, kw.pop("tags", self.tags), **kw)
            )
            return handler

        return decorator

    def get(self, path: str, **kw: Any):
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.route("POST", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.route("DELETE", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.route("PUT", path, **kw)

    def form_post(
        self,
        path: str,
        *,
        access: Access,
        summary: str,
        page: Callable[..., Awaitable[web.Response]],
        form: type[BaseModel] | None = None,
    ):
        """An HTML form's POST (core/forms.py): read into `form` (default: no fields but the CSRF token); a
        refusal is painted by `page`. Not in /openapi.json: the JSON API has its own route for each action."""
        if form is None:
            from core.forms import NoFields  # forms build on auth, which builds on this module

            form = NoFields
        return self.post(
            path, access=access, summary=summary, form=form, page=page, in_openapi=False, produces="text/html"
        )


def _wrap(ep: Endpoint) -> Handler:
    @functools.wraps(ep.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        from core.auth import authorize  # auth needs the registry types; import at call time

        request[ENDPOINT] = ep
        if not ep.access.public:
            await authorize(request, ep.access, form=bool(ep.form))
        kwargs: dict[str, Any] = {}
        if ep.query is not None:
            kwargs["query"] = parse_query(request, ep.query)
        if ep.body is not None:
            kwargs["body"] = await parse_json_body(request, ep.body)
        if isinstance(ep.form, type) and ep.page is not None:
            from core.forms import serve_form  # forms import errors and i18n, which import this module's kin

            return await serve_form(request, ep.form, ep.handler, ep.page, kwargs)
        return await ep.handler(request, **kwargs)

    return handler


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the path; ids beyond bigint simply do not exist."""
    from core.errors import NotFound

    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"no such {name}", field=name)
    return int(raw)


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def validation_problem(exc: ValidationError, *, prefix: str = "") -> ValidationFailed:
    from core.field_messages import error_type

    errors, types = [], []
    for err in exc.errors(include_url=False, include_input=False):
        path = _field_path(err["loc"])
        errors.append({"field": prefix + path, "message": err["msg"]})
        ctx = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, (int, str))}
        types.append((error_type(err), ctx))
    first = errors[0]["field"] if errors else None
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ValidationFailed(detail, field=first, errors=errors, error_types=types)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


# Built once: json.loads with hooks builds a decoder per call, 2 of its 3 µs on a creation's body. UTF-8
# only (json.loads also guessed UTF-16 and 32 from bytes; pydantic's parser, which reads the body next, not).
_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys)


def _nul_field(value: Any, path: str = "") -> str | None:
    """Where a NUL character hides in parsed input: PostgreSQL text cannot hold one; refuse it early."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_field(key, path) or _nul_field(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_field(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


async def parse_json_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(f"send Content-Type: application/json (got {request.content_type!r})")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the body may be at most {request.client_max_size} bytes") from None
    try:
        # The standard parser first: it refuses NaN/Infinity and we refuse duplicate keys, which pydantic's
        # parser would let through (the last one silently winning).
        parsed = _STRICT_JSON.decode(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    nul = _nul_field(parsed)
    if nul:
        raise ValidationFailed(f"{nul}: text may not contain NUL characters", field=nul)
    try:
        # JSON mode keeps strictness sensible: no "5" for 5, but ISO strings for dates.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedJSON("the body is not valid JSON") from None
        raise validation_problem(exc) from None


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    query = request.query
    data: dict[str, Any] = {}
    for key in query:
        values = query.getall(key)
        if len(values) > 1:
            raise ValidationFailed(f"{key} was given {len(values)} times", field=key)
        if _nul_field(key) or _nul_field(values[0]):
            raise ValidationFailed(f"{key}: text may not contain NUL characters", field=key)
        data[key] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from None


# OpenAPI ------------------------------------------------------------------------------------------------

# {name} or {name:regex}; the regex may itself hold one level of braces, e.g. [a-z]{1,30}.
_PARAM_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::((?:[^{}]|{[^{}]*})*))?}")
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def openapi_path(path: str) -> str:
    return _PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", path)


def path_param_pattern(path: str, name: str) -> str | None:
    for m in _PARAM_RE.finditer(path):
        if m.group(1) == name:
            return m.group(2)
    return None


def build_openapi(registry: Registry, *, title: str, version: str) -> dict[str, Any]:
    documented = [ep for ep in registry.endpoints if ep.in_openapi]
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for ep in documented:
        if ep.body is not None:
            models.append((ep.body, "validation"))
        if ep.response is not None:
            models.append((ep.response, "serialization"))
        models.extend((model, "serialization") for model in ep.response_models.values())
    keymap, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for ep in documented:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": list(ep.tags),
            "description": f"Access: {ep.access.describe()}.",
            "parameters": [],
            "responses": {},
        }
        for name, _ in _PARAM_RE.findall(ep.path):
            schema: dict[str, Any] = {"type": "string"}
            pattern = path_param_pattern(ep.path, name)
            if pattern:
                schema["pattern"] = f"^{pattern}$"
            op["parameters"].append({"name": name, "in": "path", "required": True, "schema": schema})
        if ep.idempotent:
            op["parameters"].append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "Same key and body replay the first response; another body is a 409.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                }
            )
        if ep.query is not None:
            qschema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                op["parameters"].append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keymap[(ep.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            ok["content"] = {ep.produces: {"schema": keymap[(ep.response, "serialization")]}}
        elif ep.produces != "application/json":
            ok["content"] = {ep.produces: {"schema": {"type": "string"}}}
        op["responses"][str(ep.status)] = ok
        problem = {
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }
        codes = {400: "Bad request", 404: "Not found"}
        if not ep.access.public:
            codes |= {401: "Not authenticated", 403: "Not allowed"}
            op["security"] = [{"staffSession": []}] if not ep.access.scopes else [{"bearerToken": []}]
            if ep.access.roles and ep.access.scopes:
                op["security"] = [{"staffSession": []}, {"bearerToken": []}]
        if ep.body is not None:
            codes |= {413: "Body too large", 415: "Wrong content type", 422: "Invalid input"}
        if ep.query is not None:
            codes |= {422: "Invalid query"}
        codes |= ep.responses
        for code, model in ep.response_models.items():
            op["responses"][str(code)] = {
                "description": codes.get(code, "See the body"),
                "content": {"application/json": {"schema": keymap[(model, "serialization")]}},
            }
        for code, description in sorted(codes.items()):
            op["responses"].setdefault(str(code), {"description": description, **problem})
        paths.setdefault(openapi_path(ep.path), {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "API token (cpt_…)"},
                "staffSession": {"type": "apiKey", "in": "cookie", "name": "citypay_session"},
            },
        },
    }
