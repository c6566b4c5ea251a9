"""Account verification against a running simulated bank: each state the bank can answer, the CCCD outranking
the name, a change of account or the end of the validity making the beneficiary unverified again, the queued
"verify all" (outbox), a bank that does not answer, and the four-eyes decisions on a mismatch and on resuming
a stopped beneficiary. The bank's answer is kept masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.appkeys import KEYS, POOL, SETTINGS
from disbursements.verification import VERIFY_KIND, verification_worker
from tests.disbursements.conftest import BENEFICIARIES, enrol_via_api, person


@pytest.fixture
async def app_client(sim_bank, make_app, aiohttp_client):
    _sim, url, _db = sim_bank
    return await aiohttp_client(make_app(background=False, banksim_url=url))


async def verify(client, login, beneficiary_id: int):
    return await client.post(f"{BENEFICIARIES}/{beneficiary_id}/verify", headers=login.headers(unsafe=True))


async def enrol_and_verify(client, login, **overrides) -> tuple[dict, dict]:
    created = await enrol_via_api(client, login, **overrides)
    resp = await verify(client, login, created["id"])
    assert resp.status == 200, await resp.text()
    return created, await resp.json()


CASES = [
    # (what we hold, the bank's verdict, id_match)
    (
        dict(
            national_id="079160004321",
            full_name="Trần Thị Bích Ngọc",
            birth_date="1960-01-09",
            account_number="0011000567890",
        ),
        "verified",
        None,
    ),
    (
        dict(
            national_id="079160004321",
            full_name="Ngọc Trần Thị Bích",
            birth_date="1960-01-09",
            account_number="0011000567890",
        ),
        "verified",
        None,
    ),  # the same words in another order
    (
        dict(
            national_id="001058001111",
            full_name="Lê Đức Thành",
            birth_date="1958-01-01",
            account_number="0011000678901",
        ),
        "mismatch",
        None,
    ),  # the bank says LE DUC THANG
    (
        dict(
            national_id="001058001111",
            full_name="Lê Đức Thắng",
            birth_date="1958-01-01",
            account_number="0011999999999",
        ),
        "not_found",
        None,
    ),
    (
        dict(
            national_id="001058001111",
            full_name="Hoàng Minh Đức",
            birth_date="1958-01-01",
            account_number="0011000890123",
        ),
        "closed",
        None,
    ),
    (
        dict(
            national_id="001058001111",
            full_name="Vũ Quang Huy",
            birth_date="1958-01-01",
            account_number="0011000901234",
        ),
        "blocked",
        None,
    ),
    (
        dict(
            national_id="001058001111",
            full_name="Đặng Văn Bình",
            birth_date="1958-01-01",
            bank_bin="970405",
            account_number="1500205123456",
        ),
        "deceased",
        None,
    ),  # another bank (NAPAS)
    (dict(full_name="Nguyễn Văn An"), "verified", True),  # the bank confirms the CCCD too
    (dict(full_name="Nguyễn Văn Anh"), "verified", True),  # the CCCD outranks a differing name
    (dict(national_id="001055009999"), "mismatch", False),  # another CCCD outranks a matching name
    (
        dict(
            national_id="040062001357",
            full_name="Bùi Hùng",
            birth_date="1962-05-05",
            bank_bin="970418",
            account_number="21510001234567",
        ),
        "verified",
        True,
    ),  # at another bank, id confirmed
]


@pytest.mark.parametrize(("ours", "state", "id_match"), CASES)
async def test_each_bank_answer(app_client, staff_login, ours, state, id_match):
    finance = await staff_login("finance")
    created, out = await enrol_and_verify(app_client, finance, **ours)
    assert out["state"] == state and out["id_match"] is id_match
    pool = app_client.app[POOL]
    row = await pool.fetchrow(
        "SELECT * FROM disb_accounts WHERE beneficiary_id = $1 AND active", created["id"]
    )
    assert row["state"] == state and row["checked_at"] is not None
    hold = await pool.fetchval("SELECT hold_reason FROM disb_roster WHERE beneficiary_id = $1", created["id"])
    if state == "verified":
        assert hold is None
        until = datetime.fromisoformat(out["verified_until"])
        assert timedelta(days=89) < until - datetime.now(UTC) <= timedelta(days=90)
        assert out["bank_name_masked"] and "*" in out["bank_name_masked"]
    else:
        assert hold == state and out["verified_until"] is None
    # the bank's answer is kept, masked: no clear name, no account number, never the CCCD
    stored = json.dumps(row["bank_answer"]) + json.dumps(out)
    check = await pool.fetchrow("SELECT * FROM disb_account_checks WHERE account_id = $1", row["id"])
    stored += json.dumps(check["bank_answer"])
    assert check["state"] == state
    for secret in (
        "NGUYEN VAN AN",
        "TRAN THI BICH NGOC",
        "LE DUC THANG",
        "BUI VAN HUNG",
        ours.get("account_number", "0011000456789"),
        "001055001234",
    ):
        assert secret not in stored
    audit = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'disbursements.account.checked'"
    )
    assert audit == 1


async def test_a_changed_account_is_unverified_again_and_held(app_client, staff_login):
    finance = await staff_login("finance")
    created, out = await enrol_and_verify(app_client, finance)
    assert out["state"] == "verified"
    pool = app_client.app[POOL]
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") is None
    resp = await app_client.put(
        f"{BENEFICIARIES}/{created['id']}/account",
        json={"bank_bin": "970436", "account_number": "0011000567890"},
        headers=finance.headers(unsafe=True),
    )
    assert (await resp.json())["account_state"] == "unverified"
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "unverified"
    # verified again: the new account is someone else's (TRAN THI BICH NGOC) → mismatch, still held
    again = await (await verify(app_client, finance, created["id"])).json()
    assert again["state"] == "mismatch"
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "mismatch"


async def test_expiry_holds_and_verify_all_renews_through_the_outbox(app_client, staff_login):
    finance = await staff_login("finance")
    app = app_client.app
    pool = app[POOL]
    a, _ = await enrol_and_verify(app_client, finance)
    b = await enrol_via_api(
        app_client,
        finance,
        national_id="079160004321",
        full_name="Trần Thị Bích Ngọc",
        birth_date="1960-01-09",
        account_number="0011000567890",
    )
    await pool.execute(
        "UPDATE disb_accounts SET verified_until = now() - interval '1 second' WHERE state = 'verified'"
    )
    assert (
        await pool.fetchval("SELECT hold_reason FROM disb_roster WHERE beneficiary_id = $1", a["id"])
        == "expired"
    )
    resp = await app_client.post("/api/v1/disbursements/verify", headers=finance.headers(unsafe=True))
    assert (await resp.json())["queued"] == 2
    # asked twice: still one item per account
    await app_client.post("/api/v1/disbursements/verify", headers=finance.headers(unsafe=True))
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = $1", VERIFY_KIND) == 2
    worker = verification_worker(pool, app[KEYS], app[SETTINGS])
    assert await worker.run_due() == 2
    holds = await pool.fetch("SELECT beneficiary_id, hold_reason FROM disb_roster ORDER BY beneficiary_id")
    assert [(r[0], r[1]) for r in holds] == [(a["id"], None), (b["id"], None)]
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = $1 AND state = 'done'", VERIFY_KIND)
        == 2
    )
    checks = await pool.fetch("SELECT checked_by FROM disb_account_checks ORDER BY id")
    assert checks[-1]["checked_by"] == "system:disbursements.verify"


async def test_a_killed_verification_is_picked_up_again(app_client, staff_login):
    """A worker that claimed an item and died (its lease runs out) leaves it to the next worker."""
    finance = await staff_login("finance")
    app = app_client.app
    pool = app[POOL]
    await enrol_via_api(app_client, finance)
    await app_client.post("/api/v1/disbursements/verify", headers=finance.headers(unsafe=True))
    # the dead worker's claim: `sending` with a lease that has run out
    await pool.execute(
        "UPDATE outbox SET state = 'sending', attempts = 1, lease_until = now() - interval '1 second', "
        "next_attempt_at = NULL WHERE kind = $1",
        VERIFY_KIND,
    )
    assert await verification_worker(pool, app[KEYS], app[SETTINGS]).run_due() == 1
    assert await pool.fetchval("SELECT state FROM disb_accounts") == "verified"


async def test_the_shortest_programme_validity_counts(app_client, staff_login):
    finance = await staff_login("finance")
    pool = app_client.app[POOL]
    await pool.execute(
        "UPDATE disb_programmes SET verification_valid_days = 30 WHERE code = 'social_assistance'"
    )
    _, out = await enrol_and_verify(app_client, finance, programmes=["pension", "social_assistance"])
    until = datetime.fromisoformat(out["verified_until"])
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)


async def test_a_bank_that_does_not_answer_changes_nothing_but_the_history(
    sim_bank, make_app, aiohttp_client, staff_login
):
    client = await aiohttp_client(make_app(background=False, banksim_url="http://127.0.0.1:9"))
    finance = await staff_login("finance")
    created = await enrol_via_api(client, finance)
    resp = await verify(client, finance, created["id"])
    assert resp.status == 503 and resp.content_type == "application/problem+json"
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT state FROM disb_accounts") == "unverified"
    assert await pool.fetchval("SELECT state FROM disb_account_checks") == "error"


async def test_verify_refusals(app_client, staff_login):
    finance = await staff_login("finance")
    created = await enrol_via_api(app_client, finance)
    approver = await staff_login("approver")
    assert (await verify(app_client, approver, created["id"])).status == 403
    assert (await verify(app_client, finance, 987654)).status == 404
    assert await app_client.app[POOL].fetchval("SELECT count(*) FROM disb_account_checks") == 0


async def propose(client, login, beneficiary_id, decision, note="Tên trên CCCD cũ; đã gọi điện xác nhận"):
    return await client.post(
        f"{BENEFICIARIES}/{beneficiary_id}/review",
        json={"decision": decision, "note": note},
        headers=login.headers(unsafe=True),
    )


async def decide(client, login, approval_id, verb="approve"):
    return await client.post(
        f"/api/v1/approvals/{approval_id}/{verb}", json={"note": "ok"}, headers=login.headers(unsafe=True)
    )


MISMATCH = dict(
    national_id="001058001111",
    full_name="Lê Đức Thành",
    birth_date="1958-01-01",
    account_number="0011000678901",
)


async def test_a_mismatch_is_accepted_by_a_second_person(app_client, staff_login):
    finance = await staff_login("finance")
    created, out = await enrol_and_verify(app_client, finance, **MISMATCH)
    assert out["state"] == "mismatch"
    pool = app_client.app[POOL]
    resp = await propose(app_client, finance, created["id"], "accept")
    assert resp.status == 201
    approval = await resp.json()
    assert approval["kind"] == "disbursements.accept_mismatch"
    # one pending decision at a time
    assert (await propose(app_client, finance, created["id"], "reject")).status == 409
    # still held while pending
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "mismatch"
    # the maker cannot decide (finance has no approver role; an approver who is the maker is refused)
    assert (await decide(app_client, finance, approval["approval_id"])).status == 403
    approver = await staff_login("approver")
    decided = await decide(app_client, approver, approval["approval_id"])
    assert decided.status == 200, await decided.text()
    row = await pool.fetchrow("SELECT state, review, reviewed_by, verified_until FROM disb_accounts")
    assert (
        row["state"] == "verified" and row["review"] == "accepted" and approver.username in row["reviewed_by"]
    )
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") is None
    assert (
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'disbursements.mismatch.accepted'")
        == 1
    )


async def test_a_rejected_mismatch_stays_until_the_account_changes(app_client, staff_login):
    finance = await staff_login("finance")
    created, _ = await enrol_and_verify(app_client, finance, **MISMATCH)
    approval = await (await propose(app_client, finance, created["id"], "reject")).json()
    approver = await staff_login("approver")
    assert (await decide(app_client, approver, approval["approval_id"])).status == 200
    pool = app_client.app[POOL]
    row = await pool.fetchrow("SELECT state, review FROM disb_accounts")
    assert (row["state"], row["review"]) == ("mismatch", "rejected")
    assert (await propose(app_client, finance, created["id"], "accept")).status == 409
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "mismatch"
    # a verified account cannot be "reviewed" at all
    other, _ = await enrol_and_verify(app_client, finance)
    assert (await propose(app_client, finance, other["id"], "accept")).status == 409


async def test_an_approver_rejecting_the_proposal_changes_nothing(app_client, staff_login):
    finance = await staff_login("finance")
    created, _ = await enrol_and_verify(app_client, finance, **MISMATCH)
    approval = await (await propose(app_client, finance, created["id"], "accept")).json()
    approver = await staff_login("approver")
    assert (await decide(app_client, approver, approval["approval_id"], "reject")).status == 200
    row = await app_client.app[POOL].fetchrow("SELECT state, review FROM disb_accounts")
    assert (row["state"], row["review"]) == ("mismatch", None)


async def test_a_stale_proposal_cannot_be_carried_out(app_client, staff_login):
    """Verified again after the proposal (another bank answer): the approval is refused, nothing changes."""
    finance = await staff_login("finance")
    created, _ = await enrol_and_verify(app_client, finance, **MISMATCH)
    approval = await (await propose(app_client, finance, created["id"], "accept")).json()
    await verify(app_client, finance, created["id"])
    approver = await staff_login("approver")
    assert (await decide(app_client, approver, approval["approval_id"])).status == 409
    assert await app_client.app[POOL].fetchval("SELECT state FROM disb_accounts") == "mismatch"


async def test_a_stopped_beneficiary_is_resumed_by_a_second_person(app_client, staff_login):
    finance = await staff_login("finance")
    created, _ = await enrol_and_verify(app_client, finance)
    pool = app_client.app[POOL]
    url = f"{BENEFICIARIES}/{created['id']}/resume"
    body = {"note": "Tài khoản mới đã xác minh"}
    assert (
        await app_client.post(url, json=body, headers=finance.headers(unsafe=True))
    ).status == 409  # not stopped
    await pool.execute(
        "UPDATE disb_beneficiaries SET payments_stopped_reason = 'MD07', payments_stopped_at = now()"
    )
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "stopped_md07"
    resp = await app_client.post(url, json=body, headers=finance.headers(unsafe=True))
    assert resp.status == 201
    approval = await resp.json()
    assert approval["kind"] == "disbursements.resume_payments"
    approver = await staff_login("approver")
    assert (await decide(app_client, approver, approval["approval_id"])).status == 200
    assert await pool.fetchval("SELECT payments_stopped_reason FROM disb_beneficiaries") is None
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") is None
    assert (
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'disbursements.payments.resumed'")
        == 1
    )


async def test_the_simulator_never_answers_the_id_itself(sim_bank):
    sim, _url, db = sim_bank
    resp = await sim.get(
        "/sim/api/accounts/970436/0011000456789/name", params={"national_id": "001055001234"}
    )
    body = await resp.json()
    assert body["id_match"] is True and "001055001234" not in json.dumps(body)
    wrong = await (
        await sim.get("/sim/api/accounts/970436/0011000456789/name", params={"national_id": "001055001235"})
    ).json()
    assert wrong["id_match"] is False
    none_held = await (
        await sim.get("/sim/api/accounts/970436/0011000567890/name", params={"national_id": "001055001235"})
    ).json()
    assert none_held["id_match"] is None
    assert (
        await sim.get("/sim/api/accounts/970436/0011000456789/name", params={"national_id": "12ab"})
    ).status == 422
    conn = await asyncpg.connect(db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM accounts WHERE holder_national_id IS NOT NULL") == 4
    finally:
        await conn.close()


async def test_person_helper_is_valid():
    assert person()["national_id"] == "001055001234"


async def test_nothing_personal_in_the_log_output(app_client, staff_login, capsys):
    from core.logging import configure_logging

    configure_logging("json")
    finance = await staff_login("finance")
    await enrol_and_verify(app_client, finance, **MISMATCH)
    await app_client.post("/api/v1/disbursements/verify", headers=finance.headers(unsafe=True))
    app = app_client.app
    await verification_worker(app[POOL], app[KEYS], app[SETTINGS]).run_due()
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "/verify" in text
    for secret in ("001058001111", "0011000678901", "LE DUC THANG", "Lê Đức", "Thành"):
        assert secret not in text


async def test_a_mismatch_the_bank_refuted_by_cccd_cannot_be_accepted(app_client, staff_login):
    """The bank says the account holder has another CCCD: an outside audit proposed "accept", had it approved,
    and the account became payable. A refuted CCCD outranks the name as a confirmed one does."""
    finance = await staff_login("finance")
    created, out = await enrol_and_verify(app_client, finance, national_id="001055009999")
    assert (out["state"], out["id_match"]) == ("mismatch", False)
    refused = await propose(app_client, finance, created["id"], "accept")
    assert refused.status == 409, await refused.text()
    assert "CCCD" in (await refused.json())["message"]
    pool = app_client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 0
    # an accept proposed before the bank said so is refused when decided
    await pool.execute("UPDATE disb_accounts SET id_match = NULL")
    approval = await (await propose(app_client, finance, created["id"], "accept")).json()
    await pool.execute("UPDATE disb_accounts SET id_match = false")
    approver = await staff_login("approver")
    decided = await decide(app_client, approver, approval["approval_id"])
    assert decided.status == 409
    assert await pool.fetchval("SELECT state FROM disb_accounts") == "mismatch"
    # the approver rejects that request instead; then a rejection of the account stays possible
    assert (await decide(app_client, approver, approval["approval_id"], "reject")).status == 200
    assert (await propose(app_client, finance, created["id"], "reject")).status == 201
