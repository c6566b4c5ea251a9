"""Issue 12, point 1 and 3 over HTTP: correct and cancel within the window (audited with old and new values),
the refusals (another attendant, awaiting payment, outside the window, plate inside, bad plate) as
problem+json with a catalogue message; the ranked candidates lookup."""

from __future__ import annotations

import json
from datetime import timedelta

from core.appkeys import CLOCK, POOL
from parking.console_messages import CORRECTION_WINDOW
from tests.catalogue import in_catalogue

LOT = "hk-hang-dau"


def _j(value):
    return json.loads(value) if isinstance(value, str) else value


API = f"/api/v1/parking/lots/{LOT}"


async def post(client, login, url, body):
    return await client.post(url, json=body, headers=login.headers(unsafe=True))


async def check_in(client, login, plate, cls):
    resp = await post(client, login, f"{API}/check-ins", {"plate": plate, "vehicle_class": cls})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def refused(resp, status, message_key=None):
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert in_catalogue(body["message"]), body
    if message_key:
        from core.i18n import translate

        assert body["message"] == translate(message_key, "vi"), body
    return body


async def test_correct_plate_and_class_is_audited_with_old_and_new(client, attendant):
    s = await check_in(client, attendant, "30A12345", "motorbike")  # a car typed with "Xe máy" selected
    assert s["plate_written"] == "30-A1 2345"
    # The class alone: the compact plate is re-read as a car plate.
    resp = await post(client, attendant, f"{API}/sessions/{s['id']}/correct", {"vehicle_class": "car"})
    out = await resp.json()
    assert resp.status == 200 and (out["plate_written"], out["vehicle_class"]) == ("30A-123.45", "car")
    resp = await post(client, attendant, f"{API}/sessions/{s['id']}/correct", {"plate": "30A-123.46"})
    out = await resp.json()
    assert resp.status == 200 and (out["plate_written"], out["vehicle_class"]) == ("30A-123.46", "car")
    assert out["corrected_at"] is not None
    rows = await client.app[POOL].fetch(
        "SELECT before, after FROM audit_log WHERE action = 'parking.correct' AND subject = $1 ORDER BY seq",
        f"session:{s['id']}",
    )
    changes = [(_j(r["before"]), _j(r["after"])) for r in rows]
    assert [((b["plate"], b["class"]), (a["plate"], a["class"])) for b, a in changes] == [
        (("30-A1 2345", "motorbike"), ("30A-123.45", "car")),
        (("30A-123.45", "car"), ("30A-123.46", "car")),
    ]
    # A motorbike plate is no car plate: refused, the session unchanged.
    m = await check_in(client, attendant, "29-B1 123.45", "motorbike")
    body = await refused(
        await post(client, attendant, f"{API}/sessions/{m['id']}/correct", {"vehicle_class": "car"}), 409
    )
    assert body["type"] == "/problems/plate-class-mismatch"
    row = await client.app[POOL].fetchrow(
        "SELECT plate_written, vehicle_class FROM parking_sessions WHERE id = $1::uuid", m["id"]
    )
    assert tuple(row) == ("29-B1 123.45", "motorbike")


async def test_correction_refusals_carry_catalogue_messages(client, attendant, staff_login, db_url):
    a = await check_in(client, attendant, "30A-111.11", "car")
    b = await check_in(client, attendant, "30A-222.22", "car")
    url = f"{API}/sessions/{a['id']}/correct"
    # A plate already inside, a plate of no car format, nothing changed, a character no plate holds.
    await refused(await post(client, attendant, url, {"plate": "30A22222"}), 409)
    body = await refused(await post(client, attendant, url, {"plate": "30A-12"}), 422)
    assert body["type"] == "/problems/plate-needs-override"
    await refused(await post(client, attendant, url, {"plate": "30A11111"}), 422, "console.err.unchanged")
    bad = await refused(await post(client, attendant, url, {"plate": "30A@11111"}), 422)
    assert bad["message"] == "Biển số chỉ gồm chữ số, chữ cái A–Z và Đ."
    # Another attendant of the lot may not undo it.
    other = await staff_login("attendant")
    pool = client.app[POOL]
    await pool.execute(
        "INSERT INTO lot_attendants SELECT $1, id FROM staff_users WHERE username = $2", LOT, other.username
    )
    await refused(await post(client, other, url, {"plate": "30A-333.33"}), 403, "console.err.not_yours")
    await refused(await post(client, other, f"{API}/sessions/{a['id']}/cancel", {}), 403)
    # Awaiting payment: no more corrections.
    client.app[CLOCK].advance(timedelta(minutes=2))
    out = await post(client, attendant, f"{API}/check-outs", {"plate": "30A22222"})
    assert (await out.json())["status"] == "awaiting_payment"
    await refused(
        await post(client, attendant, f"{API}/sessions/{b['id']}/correct", {"plate": "30A-444.44"}),
        409,
        "console.err.awaiting",
    )
    # Outside the window: refused; an admin voids with a reason instead.
    client.app[CLOCK].advance(CORRECTION_WINDOW)
    await refused(await post(client, attendant, url, {"plate": "30A-333.33"}), 409, "console.err.window_over")
    await refused(await post(client, attendant, f"{API}/sessions/{a['id']}/cancel", {}), 409)
    admin = await staff_login("admin")
    short = await post(client, admin, f"/api/v1/parking/sessions/{a['id']}/void", {"reason": "x"})
    await refused(short, 422)
    voided = await post(client, admin, f"/api/v1/parking/sessions/{a['id']}/void", {"reason": "xe không vào"})
    assert voided.status == 200 and (await voided.json())["status"] == "voided"


async def test_cancel_within_the_window_frees_the_plate(client, attendant):
    s = await check_in(client, attendant, "30A-555.55", "car")
    resp = await post(client, attendant, f"{API}/sessions/{s['id']}/cancel", {})
    out = await resp.json()
    assert resp.status == 200 and out["status"] == "voided"
    row = await client.app[POOL].fetchrow(
        "SELECT void_reason, cancelled_by FROM parking_sessions WHERE id = $1::uuid", s["id"]
    )
    assert row["void_reason"] == "nhập nhầm khi nhận xe" and row["cancelled_by"].startswith("staff:")
    audit = await client.app[POOL].fetchrow(
        "SELECT before, after FROM audit_log WHERE action = 'parking.cancel' AND subject = $1",
        f"session:{s['id']}",
    )
    assert _j(audit["before"])["plate"] == "30A-555.55"
    await refused(await post(client, attendant, f"{API}/sessions/{s['id']}/cancel", {}), 409)
    await check_in(client, attendant, "30A-555.55", "car")  # the plate is free again


async def test_the_list_says_which_sessions_may_be_corrected(client, attendant):
    s = await check_in(client, attendant, "30A-666.66", "car")
    items = (await (await client.get(f"{API}/sessions", headers=attendant.headers())).json())["items"]
    [item] = [i for i in items if i["id"] == s["id"]]
    assert item["correctable"] is True and item["correctable_until"]
    client.app[CLOCK].advance(CORRECTION_WINDOW + timedelta(seconds=1))
    items = (await (await client.get(f"{API}/sessions", headers=attendant.headers())).json())["items"]
    assert [i["correctable"] for i in items if i["id"] == s["id"]] == [False]


async def test_candidates_are_ranked_exact_confusion_typo_then_latest(client, attendant):
    await check_in(client, attendant, "30A-888.80", "car")
    client.app[CLOCK].advance(timedelta(minutes=1))
    await check_in(client, attendant, "30A-888.81", "car")
    client.app[CLOCK].advance(timedelta(minutes=1))
    await check_in(client, attendant, "30A-188.80", "car")
    url = f"{API}/candidates"
    # 30A-B88.80: 30A88880 by one look-alike (B/8), 30A18880 by one wrong character, 30A88881 by both.
    items = (await (await post(client, attendant, url, {"plate": "30A-B88.80"})).json())["items"]
    assert [(i["plate"], i["kind"], i["distance"]) for i in items] == [
        ("30A-888.80", "confusion", 1),
        ("30A-188.80", "typo", 1),
        ("30A-888.81", "typo", 2),
    ]
    # One wrong digit: both at distance 1, typo; the latest entry first.
    items = (await (await post(client, attendant, url, {"plate": "30A88883"})).json())["items"]
    assert [(i["plate"], i["kind"]) for i in items] == [("30A-888.81", "typo"), ("30A-888.80", "typo")]
    # O for 0 and I for 1 from a plate reader; the exact reading wins.
    body = {"readings": [{"plate": "3OA-I88.8O", "score": 0.9}, {"plate": "30A88881", "score": 0.4}]}
    items = (await (await post(client, attendant, url, body)).json())["items"]
    assert (items[0]["plate"], items[0]["kind"]) == ("30A-888.81", "exact")
    assert ("30A-188.80", "confusion") in [(i["plate"], i["kind"]) for i in items]
    none = (await (await post(client, attendant, url, {"plate": "51G-000.00"})).json())["items"]
    assert none == []
    await refused(await post(client, attendant, url, {}), 422)
    await refused(await post(client, attendant, url, {"plate": "30A@1"}), 422)
    # The check-out's "not inside" carries the same ranked suggestions.
    out = await post(client, attendant, f"{API}/check-outs", {"plate": "30A88883"})
    body = await refused(out, 404)
    assert [s["plate"] for s in body["suggestions"]] == ["30A-888.81", "30A-888.80"]


async def test_candidates_only_for_the_lots_attendants(client, attendant, staff_login):
    other = await staff_login("attendant")
    resp = await post(client, other, f"{API}/candidates", {"plate": "30A12345"})
    assert resp.status == 403
