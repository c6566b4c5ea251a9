"""Issue 8, points 17 and 18 over HTTP: a car plate typed with the motorbike class, and the same plate hidden
behind invisible, fullwidth or bidi characters. Each attack either gets a problem or finds the one session
already open for the car; never a second session, never the motorbike fare for a car."""

from __future__ import annotations

import pytest

from core.appkeys import POOL

LOT = "hk-hang-dau"
IN = f"/api/v1/parking/lots/{LOT}/check-ins"
OUT = f"/api/v1/parking/lots/{LOT}/check-outs"


async def post(client, login, url, body):
    return await client.post(url, json=body, headers=login.headers(unsafe=True))


async def open_sessions(client, compact: str | None = None) -> list[tuple[str, str, str]]:
    rows = await client.app[POOL].fetch(
        "SELECT plate, plate_written, vehicle_class FROM parking_sessions "
        "WHERE status IN ('inside', 'awaiting_payment') AND ($1::text IS NULL OR plate = $1) ORDER BY plate",
        compact,
    )
    return [tuple(r) for r in rows]


# 17 — the written form decides the reading -----------------------------------------------------------------


async def test_a_car_plate_typed_with_the_motorbike_class_is_refused_with_both_readings(client, attendant):
    resp = await post(client, attendant, IN, {"plate": "30A-123.45", "vehicle_class": "motorbike"})
    assert resp.status == 409 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == "/problems/plate-class-mismatch" and problem["field"] == "vehicle_class"
    readings = {(r["class"], r["plate_display"], r["fits_written_form"]) for r in problem["readings"]}
    assert ("car", "30A-123.45", True) in readings
    assert ("motorbike", "30-A1 2345", False) in readings
    assert problem["readings"][0]["fits_written_form"]  # the reading the written form gives comes first
    assert await open_sessions(client) == []  # nothing was checked in

    # The attendant takes the car reading: checked in as the car, and the car fare applies later.
    car = await post(client, attendant, IN, {"plate": "30A-123.45", "vehicle_class": "car"})
    assert car.status == 201
    assert await open_sessions(client) == [("30A12345", "30A-123.45", "car")]


async def test_the_chosen_class_is_kept_only_with_an_explicit_confirmation(client, attendant):
    body = {"plate": "30A-123.45", "vehicle_class": "motorbike", "class_confirmed": True}
    resp = await post(client, attendant, IN, body)
    assert resp.status == 201
    session = await resp.json()
    assert (session["vehicle_class"], session["plate_written"]) == ("motorbike", "30-A1 2345")
    audit = await client.app[POOL].fetchval(
        "SELECT after->>'class_confirmed' FROM audit_log WHERE action = 'parking.check_in' "
        "AND subject = 'session:' || $1",
        session["id"],
    )
    assert audit == "true"  # who overrode the written form is on record


@pytest.mark.parametrize(
    ("plate", "chosen", "expected"),
    [
        ("30A-123.45", "bicycle", "car"),
        ("30 A 123.45", "motorbike", "car"),
        ("30A-1234", "motorbike", "car"),
        ("29-B1 123.45", "car", "motorbike"),
        ("29B1-1234", "car", "motorbike"),
        ("３０Ａ－１２３．４５", "motorbike", "car"),  # fullwidth, NFKC first
    ],
)
async def test_other_shapes_that_disagree_with_the_class(client, attendant, plate, chosen, expected):
    resp = await post(client, attendant, IN, {"plate": plate, "vehicle_class": chosen})
    assert resp.status == 409, await resp.text()
    problem = await resp.json()
    assert problem["type"] == "/problems/plate-class-mismatch"
    assert problem["readings"][0]["class"] == expected
    assert await open_sessions(client) == []


@pytest.mark.parametrize(
    ("plate", "chosen", "written"),
    [
        ("29-B1 123.45", "motorbike", "29-B1 123.45"),
        ("30A-123.45", "car", "30A-123.45"),
        ("30A12345", "motorbike", "30-A1 2345"),  # no separators: the written form does not decide
        ("29LD-123.45", "car", "29LD-123.45"),
        ("80NG-123-45", "motorbike", "80NG-123-45"),  # same reading for every class
    ],
)
async def test_plates_whose_shape_fits_the_class_are_checked_in(client, attendant, plate, chosen, written):
    resp = await post(client, attendant, IN, {"plate": plate, "vehicle_class": chosen})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["plate_written"] == written


async def test_plate_recognition_candidates_are_held_to_the_same_rule(client, attendant):
    body = {"candidates": [{"plate": "30A-123.45", "score": 0.9}], "vehicle_class": "motorbike"}
    resp = await post(client, attendant, IN, body)
    assert resp.status == 409 and (await resp.json())["type"] == "/problems/plate-class-mismatch"
    assert await open_sessions(client) == []


# 18 — one car, one session, whatever the characters ---------------------------------------------------------

INVISIBLE = [
    "30A77\u200b777",  # zero-width space
    "30A77\u200c777",  # zero-width non-joiner
    "30A77\u200d777",  # zero-width joiner
    "30A77\u2060777",  # word joiner
    "\ufeff30A77777",  # BOM
    "\u202e30A77777",  # right-to-left override
    "30A\u202d77777",  # left-to-right override
    "30A\u2066777\u206977",  # isolates
    "30A\u200e77777",  # LRM
    "30A\u200f77777",  # RLM
    "30A7\u00ad7777",  # soft hyphen (Cf)
    "30A7\x017777",  # a control character (Cc)
]


def _hidden(plate: str) -> str:
    return "+".join(f"U+{ord(c):04X}" for c in plate if not c.isalnum())


@pytest.mark.parametrize("plate", INVISIBLE, ids=_hidden)
async def test_invisible_characters_in_a_plate_are_refused_naming_the_field(client, attendant, plate):
    first = await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})
    assert first.status == 201
    resp = await post(client, attendant, IN, {"plate": plate, "vehicle_class": "car"})
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == "/problems/validation-failed" and problem["field"] == "plate"
    # With an override reason the plate would have been taken "as typed" — still refused.
    forced = await post(
        client, attendant, IN, {"plate": plate, "vehicle_class": "car", "override_reason": "camera says so"}
    )
    assert forced.status == 422 and (await forced.json())["field"] == "plate"
    assert await open_sessions(client) == [("30A77777", "30A-777.77", "car")]


async def test_fullwidth_digits_find_the_same_car(client, attendant):
    assert (await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})).status == 201
    again = await post(client, attendant, IN, {"plate": "３０Ａ７７７７７", "vehicle_class": "car"})
    assert again.status == 409 and (await again.json())["type"] == "/problems/plate-already-inside"
    assert await open_sessions(client) == [("30A77777", "30A-777.77", "car")]
    out = await post(client, attendant, OUT, {"plate": "３０Ａ－７７７．７７"})
    assert out.status == 200  # and check-out finds it by the same normalised plate


async def test_invisible_characters_in_candidates_and_free_text_are_refused(client, attendant):
    resp = await post(
        client,
        attendant,
        IN,
        {"candidates": [{"plate": "30A77\u200b777", "score": 0.9}], "vehicle_class": "car"},
    )
    assert resp.status == 422 and (await resp.json())["field"] == "candidates.0.plate"
    reason = await post(
        client,
        attendant,
        IN,
        {"plate": "ZZ-ZZ", "vehicle_class": "car", "override_reason": "xe \u202ecủa cán bộ"},
    )
    assert reason.status == 422 and (await reason.json())["field"] == "override_reason"
    assert await open_sessions(client) == []
    session = await (
        await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})
    ).json()
    cash = await post(
        client,
        attendant,
        f"/api/v1/parking/lots/{LOT}/sessions/{session['id']}/cash",
        {"reason": "khách\u200b trả tiền mặt"},
    )
    assert cash.status == 422 and (await cash.json())["field"] == "reason"
    search = await client.get("/api/v1/parking/lots", params={"ward": "Hoàn\u202eKiếm"})
    assert search.status == 422 and (await search.json())["field"] == "ward"


async def test_a_car_pass_is_not_sold_at_the_motorbike_price(client, staff_login, lots):
    admin = await staff_login("admin")
    body = {
        "lot_id": LOT,
        "plate": "30A-123.45",
        "vehicle_class": "motorbike",
        "valid_from": "2026-12-01",
        "valid_until": "2026-12-30",
        "price": 100_000,
    }
    resp = await client.post("/api/v1/admin/parking/passes", json=body, headers=admin.headers(unsafe=True))
    assert resp.status == 422
    problem = await resp.json()
    assert problem["field"] == "plate" and problem["readings"][0]["class"] == "car"
    hidden = {**body, "plate": "30A-123.4\u200b5", "vehicle_class": "car"}
    resp = await client.post("/api/v1/admin/parking/passes", json=hidden, headers=admin.headers(unsafe=True))
    assert resp.status == 422 and (await resp.json())["field"] == "plate"
    assert await client.app[POOL].fetchval("SELECT count(*) FROM monthly_passes") == 0


async def test_a_motorbike_pass_does_not_let_the_car_with_the_same_compact_plate_out_free(
    client, staff_login, attendant
):
    """30-A1 2345 (motorbike) and 30A-123.45 (car) are both 30A12345: the pass must be of the session's class,
    or a 150,000 đồng motorbike pass parks a car free."""
    admin = await staff_login("admin")
    sold = await post(
        client,
        admin,
        "/api/v1/admin/parking/passes",
        {
            "lot_id": LOT,
            "plate": "30-A1 2345",
            "vehicle_class": "motorbike",
            "valid_from": "2026-01-01",
            "valid_until": "2026-01-31",
            "price": 150_000,
        },
    )
    assert sold.status == 201, await sold.text()
    pool = client.app[POOL]
    await pool.execute(
        "UPDATE monthly_passes SET valid_from = current_date - 1, valid_until = current_date + 1"
    )
    assert (await post(client, attendant, IN, {"plate": "30A-123.45", "vehicle_class": "car"})).status == 201
    out = await post(client, attendant, OUT, {"plate": "30A-123.45"})
    assert out.status == 200, await out.text()
    session = await out.json()
    assert session["status"] == "awaiting_payment" and session["close_reason"] is None, session
    assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE kind = 'parking'") == 1


LOOKALIKES = [
    "30\u0410-777.77",  # Cyrillic capital А
    "30\u0430-777.77",  # Cyrillic small а
    "30\u039177777",  # Greek capital Α
    "30\u03b1 777 77",  # Greek small α
    "３０\u0410７７７７７",  # fullwidth digits around a Cyrillic А
]


@pytest.mark.parametrize(
    "plate", LOOKALIKES, ids=lambda p: "+".join(f"U+{ord(c):04X}" for c in p if ord(c) > 127)
)
async def test_look_alike_letters_find_the_car_already_inside(client, attendant, plate):
    assert (await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})).status == 201
    for body in (
        {"plate": plate, "vehicle_class": "car"},
        {"plate": plate, "vehicle_class": "car", "override_reason": "camera reads it so"},
        {"candidates": [{"plate": plate, "score": 0.9}], "vehicle_class": "car"},
    ):
        resp = await post(client, attendant, IN, body)
        assert resp.status == 409, (body, await resp.text())
        assert (await resp.json())["type"] == "/problems/plate-already-inside"
    assert await open_sessions(client) == [("30A77777", "30A-777.77", "car")]
    out = await post(client, attendant, OUT, {"plate": plate})
    assert out.status == 200  # check-out finds the car by the folded plate too
    assert (await out.json())["plate"] == "30A77777"


@pytest.mark.parametrize(
    "plate",
    [
        "30\u0416-777.77",  # Cyrillic Ж: no Latin letter looks like it
        "30A-777.7\u0661",  # Arabic-Indic digit one
        "30\u0131-777.77",  # dotless ı
        "30A_777.77",
        "30A/777.77",
        "30A-777.77!",
    ],
)
async def test_characters_no_plate_carries_are_refused_naming_the_field(client, attendant, plate):
    assert (await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})).status == 201
    for body, field in (
        ({"plate": plate, "vehicle_class": "car"}, "plate"),
        ({"plate": plate, "vehicle_class": "car", "override_reason": "camera reads it so"}, "plate"),
        ({"candidates": [{"plate": plate, "score": 0.9}], "vehicle_class": "car"}, "candidates.0.plate"),
    ):
        resp = await post(client, attendant, IN, body)
        assert resp.status == 422 and resp.content_type == "application/problem+json", await resp.text()
        assert (await resp.json())["field"] == field
    out = await post(client, attendant, OUT, {"plate": plate})
    assert out.status == 422 and (await out.json())["field"] == "plate"
    assert await open_sessions(client) == [("30A77777", "30A-777.77", "car")]
