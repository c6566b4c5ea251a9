"""Schemathesis drives every operation in /openapi.json over real HTTP — anonymously, as an admin staff
session and with a token holding every scope — and no input may produce a 5xx, nor an error that is not
problem+json; every answer must also conform to the document: a documented status, a documented media type,
and a body its schema accepts (responses are serialised by their declared models, core/responses.py).

Bounded for `make test`: at most 20 derandomized examples per operation and caller (positive and negative
data), a timeout on every request, and one fresh database for the whole run."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import ServerError
from schemathesis.core.result import Ok
from schemathesis.openapi.checks import JsonSchemaError, UndefinedStatusCode

from core.api import PUBLIC, Routes, openapi_path
from core.appkeys import REGISTRY
from core.auth import CSRF_HEADER, SESSION_COOKIE
from core.errors import PROBLEM_CONTENT_TYPE
from core.responses import ResponseModel
from tests.live_server import live_server, server_fixture  # noqa: F401 (the `server` fixture)

REQUEST_TIMEOUT_S = 10  # a handler that hangs fails the test instead of stalling it
# Bank callbacks answer in each bank's own protocol (signed JSON, VNPay codes), not problem+json.
OWN_ERROR_FORMAT_TAGS = {"bank-callbacks"}
AUTH_FAILURES = {401, 403}
CONFORMANCE_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
# Operations whose answers do not conform to their declarations yet; they are still fuzzed for 5xx and
# problem+json errors.
NOT_YET_CONFORMING = {
    # A page: its errors are HTML pages, which core/api.py documents as problem+json. To model in the split of
    # payments/receipt_pages (or core/api.py documenting a page's errors as text/html).
    "GET /receipts/verify",
}


def _error_media_types(operation: APIOperation) -> set[str]:
    """What an error answer may be: problem+json, or also an HTML page where the operation is a page.

    Empty for operations that speak another party's protocol."""
    if OWN_ERROR_FORMAT_TAGS & set(operation.tags or []):
        return set()
    ok = operation.definition.raw.get("responses", {}).get("200", {})
    return {PROBLEM_CONTENT_TYPE} | ({"text/html"} & set(ok.get("content", {})))


def fuzz_operation(
    operation: APIOperation, base_url: str, session: requests.Session, headers: dict[str, str], examples: int
) -> Counter[int]:
    """Sends `examples` generated requests (valid and invalid data); returns how often each status came back.

    Raises on the first 5xx, error that is not problem+json, or answer the document does not describe."""
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    statuses: Counter[int] = Counter()
    error_types = _error_media_types(operation)
    checks = [not_a_server_error]
    if not error_types:  # another party's protocol: its statuses are documented, its bodies are the bank's
        checks.append(status_code_conformance)
    elif operation.label not in NOT_YET_CONFORMING:
        checks += CONFORMANCE_CHECKS

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)
        if response.status_code >= 400 and error_types:
            media_type = response.headers.get("content-type", [""])[0].partition(";")[0].strip()
            assert media_type in error_types, (
                f"{operation.label} answered {response.status_code} as {media_type!r}, not {error_types}"
            )

    run()
    return statuses


def test_no_operation_answers_5xx_or_off_its_document(server, staff_login, api_token):
    endpoints = {
        f"{ep.method} {openapi_path(ep.path)}": ep for ep in server.app[REGISTRY].endpoints if ep.in_openapi
    }
    admin = server.call(staff_login("admin"))
    bearer = server.call(api_token(*sorted({s for ep in endpoints.values() for s in ep.access.scopes})))
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    # Schemathesis leaves out the operation that served the schema (fetching it just worked).
    assert {op.label for op in operations} == set(endpoints) - {"GET /openapi.json"}

    # (caller, headers, the operations to try, examples each). Anonymous callers try everything, briefly where
    # only a 401 can come back; the token run goes before the admin run, which may revoke tokens by id.
    public = [op for op in operations if endpoints[op.label].access.public]
    runs = [
        ("anonymous", {}, public, 20),
        ("anonymous", {}, [op for op in operations if op not in public], 5),
        (
            "token",
            {"Authorization": f"Bearer {bearer}"},
            [op for op in operations if endpoints[op.label].access.scopes],
            20,
        ),
        (
            "admin",
            {"Cookie": f"{SESSION_COOKIE}={admin.cookie}", CSRF_HEADER: admin.csrf},
            [op for op in operations if "admin" in endpoints[op.label].access.roles],
            20,
        ),
    ]
    failures: dict[str, BaseException] = {}
    with requests.Session() as session:
        for caller, headers, allowed, examples in runs:
            assert allowed, caller
            stuck_at_auth = []
            for operation in allowed:
                try:
                    statuses = fuzz_operation(operation, server.base_url, session, headers, examples)
                # Collected, so one run names every failing operation (schemathesis raises a FailureGroup, a
                # BaseExceptionGroup, when a case fails several checks).
                except (Exception, BaseExceptionGroup) as exc:
                    failures[f"{caller}: {operation.label}"] = exc
                    continue
                if not set(statuses) - AUTH_FAILURES:
                    stuck_at_auth.append(operation.label)
            # The credentials work: every operation answered something beyond 401/403 (validation, 404, 2xx).
            if caller != "anonymous":
                assert not stuck_at_auth, f"{caller} never got past authentication: {stuck_at_auth}"
    assert not failures, "\n\n".join(f"{name}:\n{exc!r}\n{exc}" for name, exc in failures.items())


def test_the_harness_fails_on_a_5xx_or_an_undeclared_answer(make_app):
    """Proves the checks bite: an operation that crashes, or answers other than its declared model, fails."""
    app = make_app()
    broken = Routes(tags=("test",))

    class Declared(ResponseModel):
        amount: int

    @broken.get("/api/v1/test/crash", access=PUBLIC, summary="Always crashes")
    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    @broken.get(
        "/api/v1/test/drift", access=PUBLIC, summary="Answers a dict its model refuses", response=Declared
    )
    async def drift(request: web.Request) -> web.Response:
        return web.json_response({"amount": "12 000 ₫"})

    @broken.get("/api/v1/test/teapot", access=PUBLIC, summary="Answers a status it does not declare")
    async def teapot(request: web.Request) -> web.Response:
        return web.json_response({}, status=418)

    app[REGISTRY].add(app, broken)
    with live_server(app) as srv, requests.Session() as session:
        schema = schemathesis.openapi.from_url(f"{srv.base_url}/openapi.json")

        def fuzz(path: str) -> None:
            fuzz_operation(schema[path]["GET"], srv.base_url, session, {}, 5)

        # A 500 is also a status the document does not name.
        with pytest.RaisesGroup(ServerError, UndefinedStatusCode):
            fuzz("/api/v1/test/crash")
        with pytest.RaisesGroup(JsonSchemaError, allow_unwrapped=True):
            fuzz("/api/v1/test/drift")
        with pytest.RaisesGroup(UndefinedStatusCode, allow_unwrapped=True):
            fuzz("/api/v1/test/teapot")
