"""Attendant check-in and check-out over HTTP: rules, the exit payment, closing paid/pass/cash, voids."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from core.appkeys import CLOCK, KEYS, POOL
from ledger import account_balance
from payments.requests import expire_overdue_requests
from payments.settlement import settle_credit
from payments.vietqr import parse_payload
from tests.payments.conftest import credit

LOT = "hk-hang-dau"
IN = f"/api/v1/parking/lots/{LOT}/check-ins"
OUT = f"/api/v1/parking/lots/{LOT}/check-outs"


async def post(client, login, url, body):
    return await client.post(url, json=body, headers=login.headers(unsafe=True))


async def test_car_in_and_out_issues_the_exit_qr_and_payment_closes_it(client, attendant):
    resp = await post(client, attendant, IN, {"plate": "30a 123.45", "vehicle_class": "car"})
    assert resp.status == 201
    session = await resp.json()
    assert session["plate_written"] == "30A-123.45" and session["status"] == "inside"
    client.app[CLOCK].advance(timedelta(hours=9, seconds=-5))  # a started hour counts in full
    out = await (await post(client, attendant, OUT, {"plate": "30A12345"})).json()
    assert out["status"] == "awaiting_payment" and out["fee_amount"] == 345_000
    assert sum(line["amount"] for line in out["fee_lines"]) == 345_000
    payload = parse_payload(out["payment"]["qr_payload"])
    assert payload.amount == 345_000 and payload.purpose == out["payment"]["reference"]
    pool = client.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        await settle_credit(conn, client.app[KEYS], credit(out["payment"]["reference"], 345_000))
    row = await pool.fetchrow(
        "SELECT status, close_reason FROM parking_sessions WHERE id = $1::uuid", out["id"]
    )
    assert tuple(row) == ("closed", "paid")
    async with pool.acquire() as conn:
        assert await account_balance(conn, f"revenue:parking:{LOT}") == -345_000
    again = await post(client, attendant, IN, {"plate": "30A-123.45", "vehicle_class": "car"})
    assert again.status == 201  # it left, so it may come back


async def test_plate_already_inside_and_full_class_are_refused(client, attendant):
    assert (
        await post(client, attendant, IN, {"plate": "29-B1 123.45", "vehicle_class": "motorbike"})
    ).status == 201
    dup = await post(client, attendant, IN, {"plate": "29B112345", "vehicle_class": "motorbike"})
    assert dup.status == 409 and (await dup.json())["type"] == "/problems/plate-already-inside"
    elsewhere = await post(
        client,
        attendant,
        "/api/v1/parking/lots/tl-my-dinh/check-ins",
        {"plate": "29B112345", "vehicle_class": "motorbike"},
    )
    assert elsewhere.status == 409
    # Which lot holds it is not told to another lot's attendant (any plate could be located that way).
    told = await elsewhere.json()
    assert LOT not in told["detail"] and "another lot" in told["detail"], told
    assert "this lot" in (await dup.json())["detail"]
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 1 WHERE lot_id = $1 AND vehicle_class = 'car'", LOT
    )
    assert (await post(client, attendant, IN, {"plate": "30A-111.11", "vehicle_class": "car"})).status == 201
    full = await post(client, attendant, IN, {"plate": "30A-222.22", "vehicle_class": "car"})
    assert full.status == 409 and (await full.json())["type"] == "/problems/vehicle-class-full"
    none = await post(client, attendant, IN, {"plate": "30A-333.33", "vehicle_class": "large_car"})
    assert none.status == 422


async def test_concurrent_check_ins_never_overfill(client, attendant):
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 5 WHERE lot_id = $1 AND vehicle_class = 'car'", LOT
    )
    plates = [f"30A-5{i:02d}.{i:02d}" for i in range(20)]
    results = await asyncio.gather(
        *(post(client, attendant, IN, {"plate": p, "vehicle_class": "car"}) for p in plates)
    )
    assert sorted(r.status for r in results).count(201) == 5


async def test_unrecognised_plate_needs_an_override_with_a_reason(client, attendant):
    bad = await post(client, attendant, IN, {"plate": "ABC", "vehicle_class": "car"})
    assert bad.status == 422 and (await bad.json())["type"] == "/problems/plate-needs-override"
    ok = await post(
        client,
        attendant,
        IN,
        {"plate": "ABC", "vehicle_class": "car", "override_reason": "biển tạm, giấy hẹn đăng ký"},
    )
    assert ok.status == 201 and (await ok.json())["plate_override_reason"] == "biển tạm, giấy hẹn đăng ký"


async def test_recognition_candidates_pick_the_best_valid_plate(client, attendant):
    body = {
        "vehicle_class": "car",
        "candidates": [
            {"plate": "30A1Z345", "score": 0.91},
            {"plate": "30A12345", "score": 0.88},
            {"plate": "3OA12345", "score": 0.40},
        ],
    }
    resp = await post(client, attendant, IN, body)
    assert resp.status == 201 and (await resp.json())["plate_written"] == "30A-123.45"


async def test_checkout_of_a_plate_not_inside_suggests_close_readings(client, attendant):
    await post(client, attendant, IN, {"plate": "30A-888.80", "vehicle_class": "car"})
    await post(client, attendant, IN, {"plate": "29-B1 555.55", "vehicle_class": "motorbike"})
    resp = await post(client, attendant, OUT, {"plate": "30A-BB8.80"})
    assert resp.status == 404
    problem = await resp.json()
    assert problem["type"] == "/problems/plate-not-inside"
    assert [s["plate"] for s in problem["suggestions"]] == ["30A-888.80"]
    confirmed = await post(client, attendant, OUT, {"session_id": problem["suggestions"][0]["session_id"]})
    assert confirmed.status == 200 and (await confirmed.json())["status"] == "awaiting_payment"


async def test_two_attendants_checking_out_at_once_make_one_request(client, attendant, staff_login):
    await post(client, attendant, IN, {"plate": "30A-777.77", "vehicle_class": "car"})
    client.app[CLOCK].advance(timedelta(hours=2))
    results = await asyncio.gather(*(post(client, attendant, OUT, {"plate": "30A-777.77"}) for _ in range(6)))
    bodies = [await r.json() for r in results]
    assert {r.status for r in results} == {200}
    assert len({b["payment"]["id"] for b in bodies}) == 1
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests WHERE kind = 'parking'") == 1
    )


async def test_monthly_pass_closes_at_zero(client, attendant):
    await client.app[POOL].execute(
        "INSERT INTO monthly_passes "
        "(lot_id, plate, vehicle_class, valid_from, valid_until, price, created_by) "
        "VALUES ($1, '29B112345', 'motorbike', $2, $3, 150000, 'test')",
        LOT,
        date.today() - timedelta(days=1),
        date.today() + timedelta(days=30),
    )
    await post(client, attendant, IN, {"plate": "29-B1 123.45", "vehicle_class": "motorbike"})
    out = await (await post(client, attendant, OUT, {"plate": "29-B1 123.45"})).json()
    assert out["status"] == "closed" and out["close_reason"] == "pass" and out["fee_amount"] == 0
    assert out["payment"] is None


async def test_cash_is_an_exception_with_a_reason_and_is_booked(client, attendant):
    await post(client, attendant, IN, {"plate": "29-B1 999.99", "vehicle_class": "motorbike"})
    out = await (await post(client, attendant, OUT, {"plate": "29-B1 999.99"})).json()
    url = f"/api/v1/parking/lots/{LOT}/sessions/{out['id']}/cash"
    assert (await post(client, attendant, url, {"reason": "x"})).status == 422
    resp = await post(client, attendant, url, {"reason": "khách không có điện thoại"})
    closed = await resp.json()
    assert (
        resp.status == 200 and closed["close_reason"] == "cash" and closed["payment"]["status"] == "cancelled"
    )
    async with client.app[POOL].acquire() as conn:
        assert await account_balance(conn, f"asset:cash:lot:{LOT}") == out["fee_amount"]
    assert (await post(client, attendant, url, {"reason": "khách không có điện thoại"})).status == 409


async def test_admin_voids_with_a_reason_attendant_cannot(client, attendant, staff_login):
    session = await (
        await post(client, attendant, IN, {"plate": "30A-444.44", "vehicle_class": "car"})
    ).json()
    url = f"/api/v1/parking/sessions/{session['id']}/void"
    assert (await post(client, attendant, url, {"reason": "nhập nhầm biển"})).status == 403
    admin = await staff_login("admin")
    resp = await post(client, admin, url, {"reason": "nhập nhầm biển"})
    assert resp.status == 200 and (await resp.json())["status"] == "voided"
    actions = [
        r["action"]
        for r in await client.app[POOL].fetch(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq", f"session:{session['id']}"
        )
    ]
    assert actions == ["parking.check_in", "parking.void"]


async def test_attendant_of_another_lot_is_forbidden(client, attendant):
    resp = await post(
        client,
        attendant,
        "/api/v1/parking/lots/bd-van-mieu/check-ins",
        {"plate": "30A-123.45", "vehicle_class": "car"},
    )
    assert resp.status == 403
    resp = await post(
        client,
        attendant,
        "/api/v1/parking/lots/no-such-lot/check-ins",
        {"plate": "30A-123.45", "vehicle_class": "car"},
    )
    assert resp.status == 404


async def test_lot_closed_at_night_refuses_check_in(client, staff_login, lots):
    admin = await staff_login("admin")
    night = datetime.now(UTC).replace(hour=20, minute=0)  # 03:00 in Hà Nội
    client.app[CLOCK].advance(night - datetime.now(UTC) + timedelta(days=1))
    resp = await post(
        client,
        admin,
        "/api/v1/parking/lots/hk-nha-hat-lon/check-ins",
        {"plate": "30A-123.45", "vehicle_class": "car"},
    )
    assert resp.status == 409 and (await resp.json())["type"] == "/problems/lot-closed"


@pytest.mark.parametrize(
    "body",
    [
        {"vehicle_class": "car"},
        {"plate": "30A-123.45", "vehicle_class": "truck"},
        {"plate": "30A-123.45", "candidates": [{"plate": "x", "score": 1}], "vehicle_class": "car"},
        {"candidates": [{"plate": "30A12345", "score": 7}], "vehicle_class": "car"},
    ],
)
async def test_bad_check_in_bodies(client, attendant, body):
    resp = await post(client, attendant, IN, body)
    assert resp.status == 422
    assert await client.app[POOL].fetchval("SELECT count(*) FROM parking_sessions") == 0


async def test_one_session_endpoint(client, attendant):
    session = await (
        await post(client, attendant, IN, {"plate": "30A-246.80", "vehicle_class": "car"})
    ).json()
    got = await client.get(
        f"/api/v1/parking/lots/{LOT}/sessions/{session['id']}", headers=attendant.headers()
    )
    assert got.status == 200 and (await got.json())["plate_written"] == "30A-246.80"
    other = await client.get(
        f"/api/v1/parking/lots/tl-my-dinh/sessions/{session['id']}", headers=attendant.headers()
    )
    assert other.status == 404
    bad = await client.get(f"/api/v1/parking/lots/{LOT}/sessions/nope", headers=attendant.headers())
    assert bad.status == 404


async def test_the_same_plate_into_two_lots_twenty_times_at_once_is_inside_once(client, attendant):
    """Two lots' capacity locks do not serialise these: the plate's unique index settles the race, and each
    loser is told the plate is inside (409), never a 500."""
    lots = [LOT, "tl-my-dinh"]
    results = await asyncio.gather(
        *(
            post(
                client,
                attendant,
                f"/api/v1/parking/lots/{lots[i % 2]}/check-ins",
                {"plate": "30A-777.77", "vehicle_class": "car"},
            )
            for i in range(20)
        )
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [201] + [409] * 19, statuses
    for r in results:
        if r.status == 409:
            assert (await r.json())["type"] == "/problems/plate-already-inside"
    inside = await client.app[POOL].fetchval(
        "SELECT count(*) FROM parking_sessions WHERE plate = '30A77777' AND status = 'inside'"
    )
    assert inside == 1


async def test_a_check_in_and_a_check_out_take_few_statements(make_app, aiohttp_client, attendant):
    """The round trips a pair costs, counted (issue 13: each is a wait on the database and Python's work):
    the staff session (then cached), the lot with the attendant check and the audit head, then one statement
    that locks the capacity row, checks and inserts the session with its audit row; the check-out reads the
    session with its exit terms (pass, tariff, collection account), then writes the request, the session and
    its audit row in one statement, and answers with the request it inserted. No BEGIN, no COMMIT: a
    transaction spans one statement, so no lock is held while Python runs."""
    client = await aiohttp_client(make_app(background=False, db_pool_min=1, db_pool_max=1))
    seen: list[str] = []
    async with client.app[POOL].acquire() as conn:  # the pool's one connection: the requests will use it
        conn.add_query_logger(lambda record: seen.append(record.query))
    resp = await post(client, attendant, IN, {"plate": "30A-246.80", "vehicle_class": "car"})
    assert resp.status == 201
    check_in_statements, seen[:] = list(seen), []
    client.app[CLOCK].advance(timedelta(hours=2))
    out = await post(client, attendant, OUT, {"plate": "30A24680"})
    assert out.status == 200 and (await out.json())["payment"]["amount_due"] > 0
    check_out_statements = list(seen)
    assert len(check_in_statements) == 3, check_in_statements
    assert len(check_out_statements) == 2, check_out_statements
    assert not any(q.strip().upper().startswith(("BEGIN", "COMMIT")) for q in seen + check_in_statements)
    assert not any("payment_requests WHERE id" in q for q in check_out_statements)  # not read back


async def test_check_ins_and_outs_at_once_each_leave_one_audit_row_in_a_chain_that_verifies(
    client, attendant, monkeypatch
):
    """A check-in (a check-out) writes its audit row in the statement that inserts (updates) the session, on
    the stream head read by its first statement. When another row took that position meanwhile (here: one
    stream for all, so most do), the check-in writes nothing and tries again on the new head; the check-out
    takes its locking path, which appends the row the ordinary way. Either way each action has exactly one
    row and the chain verifies."""
    from core import audit
    from core.audit import verify_audit_chain
    from parking import sessions

    monkeypatch.setattr(audit, "FIELD_STREAMS", 1)
    appended_again: list[str] = []
    prepared: list[str] = []
    ordinary, prepare = sessions.record_audit, sessions.prepare_audit

    async def counting(conn, **row):
        appended_again.append(row["action"])
        return await ordinary(conn, **row)

    def counting_prepared(head, **row):
        prepared.append(row["action"])
        return prepare(head, **row)

    monkeypatch.setattr(sessions, "record_audit", counting)
    monkeypatch.setattr(sessions, "prepare_audit", counting_prepared)
    plates = [f"30A-6{i:02d}.{i:02d}" for i in range(12)]
    lots = ["hk-hang-dau", "tl-my-dinh"]
    ins = await asyncio.gather(
        *(
            post(
                client,
                attendant,
                f"/api/v1/parking/lots/{lots[n % 2]}/check-ins",
                {"plate": p, "vehicle_class": "car"},
            )
            for n, p in enumerate(plates)
        )
    )
    assert [r.status for r in ins] == [201] * 12
    outs = await asyncio.gather(
        *(
            post(client, attendant, f"/api/v1/parking/lots/{lots[n % 2]}/check-outs", {"plate": p})
            for n, p in enumerate(plates)
        )
    )
    assert [r.status for r in outs] == [200] * 12
    # Both ways of losing the position ran, and are covered below: check-ins hashed a row again, check-outs
    # appended theirs the ordinary way.
    assert prepared.count("parking.check_in") > 12
    assert "parking.check_out" in appended_again
    pool = client.app[POOL]
    rows = await pool.fetch(
        "SELECT action, subject, count(*) AS n FROM audit_log WHERE action LIKE 'parking.%' GROUP BY 1, 2"
    )
    sessions_ids = {f"session:{(await r.json())['id']}" for r in ins}
    for action in ("parking.check_in", "parking.check_out"):
        assert {r["subject"]: r["n"] for r in rows if r["action"] == action} == dict.fromkeys(sessions_ids, 1)
    async with pool.acquire() as conn:
        assert (await verify_audit_chain(conn)).ok


async def _expired_exit(client, attendant, plate: str) -> dict:
    """A motorbike checked out whose exit QR then expired unpaid (the sweeper's own function)."""
    await post(client, attendant, IN, {"plate": plate, "vehicle_class": "motorbike"})
    out = await (await post(client, attendant, OUT, {"plate": plate})).json()
    assert out["status"] == "awaiting_payment"
    pool = client.app[POOL]
    expires_at = await pool.fetchval(
        "SELECT expires_at FROM payment_requests WHERE id = $1::uuid", out["payment"]["id"]
    )
    async with pool.acquire() as conn:
        assert await expire_overdue_requests(conn, now=expires_at + timedelta(seconds=1)) >= 1
    return {**out, "expires_at": expires_at}


async def _pay_late_but_on_time(client, out: dict) -> str:
    """The citizen's bank pays the expired QR, booked a minute after its expiry: within the late tolerance,
    which would reopen an expired request."""
    pool = client.app[POOL]
    booked = out["expires_at"] + timedelta(minutes=1)
    async with pool.acquire() as conn, conn.transaction():
        done = await settle_credit(
            conn, client.app[KEYS], credit(out["payment"]["reference"], out["fee_amount"], booked_at=booked)
        )
    return done.outcome


async def test_a_late_payment_of_a_replaced_exit_qr_is_not_taken_as_well_as_the_new_one(client, attendant):
    """The exit QR expired, the attendant showed a new one, then the bank paid the old one within the late
    tolerance: that payment went in as revenue while the new QR could be paid too. The old QR is cancelled
    when replaced, so the late payment goes to suspense to be refunded."""
    out = await _expired_exit(client, attendant, "29-B1 777.01")
    again = await post(client, attendant, OUT, {"session_id": out["id"]})
    renewed = await again.json()
    assert again.status == 200 and renewed["payment"]["id"] != out["payment"]["id"], renewed
    pool = client.app[POOL]
    old = await pool.fetchrow(
        "SELECT status, cancel_reason FROM payment_requests WHERE id = $1::uuid", out["payment"]["id"]
    )
    assert old["status"] == "cancelled"
    assert await _pay_late_but_on_time(client, out) == "cancelled"  # to suspense, refundable
    assert (
        await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1::uuid", out["payment"]["id"])
        == "cancelled"
    )
    async with pool.acquire() as conn, conn.transaction():
        paid = await settle_credit(
            conn, client.app[KEYS], credit(renewed["payment"]["reference"], out["fee_amount"])
        )
    assert paid.outcome == "settled"
    session = await pool.fetchrow(
        "SELECT status, close_reason FROM parking_sessions WHERE id = $1::uuid", out["id"]
    )
    assert tuple(session) == ("closed", "paid")
    async with pool.acquire() as conn:
        assert await account_balance(conn, f"revenue:parking:{LOT}") == -out["fee_amount"]  # once


@pytest.mark.parametrize("how", ["cash", "void"])
async def test_a_late_payment_after_cash_or_a_void_is_not_taken(client, attendant, staff_login, how):
    out = await _expired_exit(client, attendant, f"29-B1 777.0{2 if how == 'cash' else 3}")
    if how == "cash":
        url = f"/api/v1/parking/lots/{LOT}/sessions/{out['id']}/cash"
        resp = await post(client, attendant, url, {"reason": "khách trả tiền mặt"})
    else:
        url = f"/api/v1/parking/sessions/{out['id']}/void"
        resp = await post(client, await staff_login("admin"), url, {"reason": "xe cứu thương"})
    assert resp.status == 200, await resp.text()
    assert await _pay_late_but_on_time(client, out) == "cancelled"
    pool = client.app[POOL]
    async with pool.acquire() as conn:
        revenue = await account_balance(conn, f"revenue:parking:{LOT}")
    assert revenue == (-out["fee_amount"] if how == "cash" else 0)  # the cash only, or nothing


async def test_replacing_an_exit_qr_while_its_payment_is_being_booked_says_try_again(client, attendant):
    """The old request is taken without waiting: a booking that holds it would otherwise deadlock with the
    check-out, which already holds the session."""
    out = await _expired_exit(client, attendant, "29-B1 777.04")
    pool = client.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM payment_requests WHERE id = $1::uuid FOR UPDATE", out["payment"]["id"]
        )
        busy = await post(client, attendant, OUT, {"session_id": out["id"]})
        assert busy.status == 409 and (await busy.json())["type"] == "/problems/payment-request-being-paid"
    assert await pool.fetchval("SELECT count(*) FROM payment_requests WHERE kind = 'parking'") == 1
    assert (await post(client, attendant, OUT, {"session_id": out["id"]})).status == 200  # once it is free


async def test_a_reading_the_plate_reader_is_unsure_of_acts_on_nothing(client, attendant):
    """Only 30A-555.66 inside; the reader's sure reading is of no car here, its 0.01 reading is that car:
    the car was checked out with nobody asked (an outside test). Such readings are only suggestions."""
    await post(client, attendant, IN, {"plate": "30A-555.66", "vehicle_class": "car"})
    unsure = [{"plate": "51F-888.99", "score": 0.99}, {"plate": "30A-555.66", "score": 0.01}]
    out = await post(client, attendant, OUT, {"candidates": unsure})
    assert out.status == 404, await out.text()  # the sure reading is not inside; suggestions follow
    only_unsure = await post(client, attendant, OUT, {"candidates": [{"plate": "30A-555.66", "score": 0.2}]})
    assert only_unsure.status == 422 and (await only_unsure.json())["field"] == "candidates"
    check_in = await post(
        client,
        attendant,
        IN,
        {"vehicle_class": "car", "candidates": [{"plate": "30A-666.77", "score": 0.02}]},
    )
    assert check_in.status == 422
    rows = await client.app[POOL].fetch("SELECT plate, status FROM parking_sessions ORDER BY plate")
    assert [tuple(r) for r in rows] == [("30A55566", "inside")]


async def test_twenty_new_qr_requests_at_once_for_one_expired_turn_make_one(client, attendant):
    """The same "new QR" tap 20 times at once (a double-tapping attendant, a retrying phone): one new request,
    the expired one cancelled once, every answer the same turn's — and no 500."""
    out = await _expired_exit(client, attendant, "29-B1 777.05")
    answers = await asyncio.gather(
        *(post(client, attendant, OUT, {"session_id": out["id"]}) for _ in range(20))
    )
    assert {a.status for a in answers} <= {200, 409}, [a.status for a in answers]
    pool = client.app[POOL]
    requests = await pool.fetch(
        "SELECT status FROM payment_requests WHERE kind = 'parking' ORDER BY created_at"
    )
    assert [r["status"] for r in requests] == ["cancelled", "pending"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'payment_request.cancel' AND subject = $1",
            f"payment_request:{out['payment']['id']}",
        )
        == 1
    )
    ok = [await a.json() for a in answers if a.status == 200]
    assert ok and {o["payment"]["status"] for o in ok} == {"pending"}
