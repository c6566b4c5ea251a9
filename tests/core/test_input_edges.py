"""Issue 8, point 19 over HTTP: dates and moments at the edges of what Python and PostgreSQL can hold
(year 1 with +14:00, year 9999 with −14:00) are a 422 naming the field on every query and body that takes
one, never a 500. The shared types are core.timebounds.BoundedDatetime / BoundedDate."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from core.timebounds import BoundedDatetime
from tests.parking.conftest import lots  # noqa: F401  (the demo lots, a fixture)

EXTREME_MOMENTS = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59-23:59",
    "1999-12-31T23:59:59+00:00",
    "2101-01-01T00:00:00+00:00",
    "2026-01-01T00:00:00",  # no offset: which moment is it?
]
EXTREME_DAYS = ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"]


def assert_field_problem(resp, body: dict, field: str) -> None:
    assert resp.status == 422, body
    assert resp.content_type == "application/problem+json"
    assert body["type"] == "/problems/validation-failed" and body["field"] == field, body


@pytest.mark.parametrize("moment", EXTREME_MOMENTS)
@pytest.mark.parametrize("field", ["created_from", "created_to"])
async def test_request_list_refuses_moments_out_of_range(client, staff_login, moment, field):
    finance = await staff_login("finance")
    resp = await client.get(f"/api/v1/payment-requests?{field}={quote(moment)}", headers=finance.headers())
    assert_field_problem(resp, await resp.json(), field)


async def test_request_list_still_takes_a_sane_window(client, staff_login):
    finance = await staff_login("finance")
    resp = await client.get(
        "/api/v1/payment-requests",
        params={"created_from": "2026-01-01T00:00:00+07:00", "created_to": "2100-12-31T23:59:59+00:00"},
        headers=finance.headers(),
    )
    assert resp.status == 200, await resp.text()


@pytest.mark.usefixtures("lots")
@pytest.mark.parametrize("day", EXTREME_DAYS)
@pytest.mark.parametrize("url", ["/api/v1/parking/kpis", "/api/v1/parking/kpis.csv"])
async def test_parking_kpis_refuse_days_out_of_range(client, staff_login, day, url):
    finance = await staff_login("finance")
    for field, params in (
        ("from", {"from": day, "to": "2026-01-01"}),
        ("to", {"from": "2026-01-01", "to": day}),
    ):
        resp = await client.get(url, params=params, headers=finance.headers())
        assert_field_problem(resp, await resp.json(), field)


@pytest.mark.usefixtures("lots")
@pytest.mark.parametrize("day", EXTREME_DAYS)
async def test_parking_kpi_page_answers_without_a_500(client, staff_login, day):
    finance = await staff_login("finance")
    resp = await client.get(
        "/parking/kpis", params={"from": day, "to": day}, headers={**finance.headers(), "Accept": "text/html"}
    )
    assert resp.status in (200, 422), resp.status


@pytest.mark.usefixtures("lots")
@pytest.mark.parametrize("moment", EXTREME_MOMENTS)
async def test_tariff_versions_refuse_moments_out_of_range(client, staff_login, moment):
    admin = await staff_login("admin")
    body = {
        "zone": "hn-noi-do",
        "vehicle_class": "motorbike",
        "effective_from": moment,
        "day_turn_price": 6_000,
        "night_turn_price": 8_000,
    }
    resp = await client.post("/api/v1/admin/parking/tariffs", json=body, headers=admin.headers(unsafe=True))
    assert_field_problem(resp, await resp.json(), "effective_from")


@pytest.mark.usefixtures("lots")
@pytest.mark.parametrize("day", EXTREME_DAYS)
async def test_monthly_passes_refuse_days_out_of_range(client, staff_login, day):
    admin = await staff_login("admin")
    for field in ("valid_from", "valid_until"):
        body = {
            "lot_id": "hk-hang-dau",
            "plate": "29-B1 123.45",
            "vehicle_class": "motorbike",
            "valid_from": "2026-01-01",
            "valid_until": "2026-01-31",
            "price": 100_000,
        } | {field: day}
        resp = await client.post(
            "/api/v1/admin/parking/passes", json=body, headers=admin.headers(unsafe=True)
        )
        assert_field_problem(resp, await resp.json(), field)


@pytest.mark.parametrize("moment", EXTREME_MOMENTS[:4])
async def test_fee_windows_refuse_moments_out_of_range(client, staff_login, moment):
    admin = await staff_login("admin")
    body = {
        "code": "EDGE-TEST",
        "name_vi": "Phí thử",
        "name_en": "Test fee",
        "amount": 10_000,
        "agency": "Sở Thử",
        "collection_account_code": "kbnn-hn",
        "active_from": moment,
    }
    resp = await client.post("/api/v1/admin/fees", json=body, headers=admin.headers(unsafe=True))
    assert_field_problem(resp, await resp.json(), "active_from")


def test_the_type_itself() -> None:
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(BoundedDatetime)
    assert adapter.validate_python("2000-01-01T00:00:00+00:00").year == 2000
    for moment in EXTREME_MOMENTS:
        with pytest.raises(ValidationError):
            adapter.validate_python(moment)
