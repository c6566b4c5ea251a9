"""Answers with real data conform to /openapi.json. The fuzz run (test_openapi_fuzz.py) mostly meets empty
lists and 404s; here a day of parking turns, bank payments and cash (the KPI fixture) fills every list, and
each JSON endpoint's answer is validated against the schema the document declares for its status (with
jsonschema_rs, the validator schemathesis itself uses)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from jsonschema_rs import Draft202012Validator

from core.api import openapi_path
from core.appkeys import REGISTRY
from core.responses import Timestamp, dump
from tests.parking.conftest import lots  # noqa: F401 (fixture)
from tests.parking.test_kpis import LOT_A, D, kpi_day  # noqa: F401 (fixture)

JSON = {"Accept": "application/json"}


class Conformance:
    """Sends requests and checks each answer: a documented status, JSON, a body its schema accepts."""

    def __init__(self, client, doc: dict[str, Any], headers: dict[str, str]) -> None:
        self.client, self.doc, self.headers = client, doc, headers
        self.seen: set[str] = set()

    async def call(self, method: str, path: str, *, status: int = 200, **kw: Any) -> Any:
        headers = {**JSON, **self.headers, **kw.pop("headers", {})}
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json(content_type=None)
        assert resp.status == status, (method, path, resp.status, body)
        assert resp.content_type == "application/json", (method, path, resp.content_type)
        match = await self.client.app.router.resolve(make_mocked_request(method, path))
        documented_path = openapi_path(match.route.resource.canonical)
        label = f"{method} {documented_path}"
        operation = self.doc["paths"][documented_path][method.lower()]
        documented = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        schema = {**documented, "components": self.doc["components"]}  # its $refs point there
        errors = list(Draft202012Validator(schema).iter_errors(body))
        assert not errors, f"{label} {status}: " + "; ".join(
            f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in errors[:5]
        )
        self.seen.add(label)
        return body


def test_timestamps_keep_the_offset_the_api_always_sent():
    from datetime import UTC, datetime

    from core.responses import ResponseModel

    class Stamped(ResponseModel):
        at: Timestamp
        until: Timestamp | None

    when = datetime(2025, 3, 10, 1, 2, 3, 4000, tzinfo=UTC)
    assert dump(Stamped(at=when, until=None)) == {"at": when.isoformat(), "until": None}
    assert when.isoformat().endswith("+00:00")
    with pytest.raises(ValueError, match=r"[Ee]xtra"):
        Stamped.model_validate({"at": when, "until": None, "secret": "dropped silently?"})


async def test_every_json_answer_with_data_conforms_to_the_document(client, staff_login, kpi_day):  # noqa: F811
    admin = await staff_login("admin")
    doc = await (await client.get("/openapi.json")).json()
    api = Conformance(client, doc, admin.headers(unsafe=True))

    await api.call("GET", "/healthz")
    await api.call("GET", "/readyz")

    # Payment requests: the parking day's (paid with receipts, pending, expired); one issued and cancelled.
    listed = await api.call("GET", "/api/v1/payment-requests?limit=200")
    assert {r["status"] for r in listed["items"]} >= {"paid", "pending", "expired"}
    paid = next(r for r in listed["items"] if r["receipt_id"])
    assert paid["transfer"] and paid["settled_at"]
    await api.call("GET", f"/api/v1/payment-requests/{paid['id']}")
    fees = await api.call("GET", "/api/v1/admin/fees")
    issued = await api.call(
        "POST",
        "/api/v1/payment-requests",
        status=201,
        json={"kind": "service_fee", "fee_code": fees["items"][0]["code"], "payer_reference": "HS-2025-001"},
        headers={"Idempotency-Key": "conformance-1"},
    )
    await api.call("POST", f"/api/v1/payment-requests/{issued['id']}/cancel", json={"reason": "nhầm hồ sơ"})

    # Parking: sessions in every state, one session, a check-in, a check-out, cash, a void; lots; KPIs.
    lot = f"/api/v1/parking/lots/{LOT_A}"
    sessions = await api.call("GET", f"{lot}/sessions?status=all")
    assert any(s["payment"] for s in sessions["items"]) and any(s["fee_lines"] for s in sessions["items"])
    await api.call("GET", f"{lot}/sessions/{sessions['items'][0]['id']}")
    await api.call("GET", "/api/v1/parking/lots?near=21.0285,105.8542&radius_m=50000")
    entered = await api.call(
        "POST", f"{lot}/check-ins", status=201, json={"plate": "29-B1 888.88", "vehicle_class": "motorbike"}
    )
    out = await api.call("POST", f"{lot}/check-outs", json={"session_id": entered["id"]})
    assert out["payment"] and out["fee_lines"]
    await api.call("POST", f"{lot}/sessions/{out['id']}/cash", json={"reason": "khách không có điện thoại"})
    inside = await api.call(
        "POST", f"{lot}/check-ins", status=201, json={"plate": "29-B1 999.99", "vehicle_class": "motorbike"}
    )
    await api.call("POST", f"/api/v1/parking/sessions/{inside['id']}/void", json={"reason": "nhập nhầm biển"})
    fix = await api.call(
        "POST", f"{lot}/check-ins", status=201, json={"plate": "29-B1 777.77", "vehicle_class": "motorbike"}
    )
    await api.call("POST", f"{lot}/sessions/{fix['id']}/correct", json={"plate": "29-B1 777.78"})
    await api.call("POST", f"{lot}/candidates", json={"plate": "29-B1 777.79"})
    await api.call("POST", f"{lot}/sessions/{fix['id']}/cancel", json={})
    kpis = await api.call("GET", f"/api/v1/parking/kpis?from={D}&to={D}&group=lot")
    assert kpis["rows"] and kpis["from"] == str(D)

    # Ledger: the trial balance and one account's entries.
    tb = await api.call("GET", "/api/v1/ledger/trial-balance")
    assert tb["accounts"] and tb["balanced"]
    account = next(a["account"] for a in tb["accounts"] if a["account"].startswith("asset:bank:"))
    entries = await api.call("GET", f"/api/v1/ledger/accounts/{account}/entries")
    assert entries["entries"] and entries["entries"][0]["refs"]
    await api.call("GET", "/api/v1/finance/callback-issues")

    # Admin: staff and their states, login addresses, tokens.
    await api.call("GET", "/api/v1/admin/staff")
    body = {"username": "thu-ngan", "display_name": "Thu Ngân", "role": "finance", "password": "x" * 12}
    await api.call("POST", "/api/v1/admin/staff", status=201, json=body)
    for change in ("deactivate", "activate", "revoke-sessions", "unlock"):
        state = await api.call("POST", f"/api/v1/admin/staff/thu-ngan/{change}")
    assert state["deactivated_at"] is None
    await api.call("POST", "/api/v1/admin/staff/thu-ngan/reset-password", json={"password": "y" * 12})
    await api.call("GET", "/api/v1/admin/login-addresses")
    await api.call("POST", "/api/v1/admin/login-addresses/unlock", json={"address": "203.0.113.9"})
    token = await api.call(
        "POST", "/api/v1/admin/tokens", status=201, json={"name": "ledger export", "scopes": ["ledger:read"]}
    )
    await api.call("GET", "/api/v1/admin/tokens")
    revoked = await api.call("DELETE", f"/api/v1/admin/tokens/{token['id']}")
    assert revoked["revoked_at"] is not None

    # Every JSON endpoint in the files whose answers are built from their models was met above.
    modelled = {
        f"{ep.method} {openapi_path(ep.path)}"
        for ep in client.app[REGISTRY].endpoints
        if ep.response is not None
        and ep.handler.__module__
        in {
            "core.admin_api",
            "core.ops",
            "ledger.routes",
            "parking.kpi_routes",
            "parking.routes",
            "payments.callback_issues",
            "payments.routes",
        }
    }
    assert modelled <= api.seen, modelled - api.seen
