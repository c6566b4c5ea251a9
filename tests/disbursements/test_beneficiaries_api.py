"""The beneficiaries API over HTTP: enrol, read, list, search, change account — and the attacks: an invalid
CCCD of each kind, a CCCD twice in a programme (409 from the database), absurd amounts, invisible Unicode in
names, wrong roles; personal data masked in answers, in the database, in the audit log and in the log
output; nothing stored when a request is refused."""

from __future__ import annotations

import json

import pytest

from core.appkeys import POOL
from core.logging import configure_logging
from core.pii import decrypt_pii
from disbursements.beneficiaries import ACCOUNT_CONTEXT, NAME_CONTEXT, NATIONAL_ID_CONTEXT
from tests.disbursements.conftest import BENEFICIARIES, enrol_via_api, person

CCCD, ACCOUNT, NAME = "001055001234", "0011000456789", "Nguyễn Văn An"
TABLES = ("disb_beneficiaries", "disb_enrolments", "disb_accounts", "disb_account_checks")


async def counts(pool) -> dict[str, int]:
    out = {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    out["audit"] = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'disbursements.%'")
    return out


async def every_stored_text(pool) -> str:
    """Every row of the package's tables and the audit log, as text (to look for clear personal data)."""
    parts = []
    for table in (*TABLES, "audit_log"):
        parts += [r[0] for r in await pool.fetch(f"SELECT t::text FROM {table} t")]
    return "\n".join(parts)


async def test_enrol_answers_masked_and_stores_only_ciphertext(client, staff_login, keys, capsys):
    configure_logging("json")
    finance = await staff_login("finance")
    out = await enrol_via_api(client, finance, monthly_amounts={"pension": 4_200_000})
    assert out["outcome"] == "created"
    assert out["national_id"] == "001******234"
    assert out["account_number"] == "****6789"
    assert out["full_name"] == "N*** V*** A***"
    assert out["account_state"] == "unverified"
    assert out["enrolments"] == [
        {"programme": "pension", "monthly_amount": 4_200_000, "active": True, "hold_reason": "unverified"}
    ]
    answer = json.dumps(out, ensure_ascii=False)
    assert CCCD not in answer and ACCOUNT not in answer and NAME not in answer and "NGUYEN" not in answer

    pool = client.app[POOL]
    stored = await every_stored_text(pool)
    assert CCCD not in stored and ACCOUNT not in stored and NAME not in stored
    row = await pool.fetchrow("SELECT * FROM disb_beneficiaries")
    assert decrypt_pii(keys, row["national_id_enc"], context=NATIONAL_ID_CONTEXT) == CCCD
    assert decrypt_pii(keys, row["full_name_enc"], context=NAME_CONTEXT) == NAME
    account = await pool.fetchrow("SELECT * FROM disb_accounts")
    assert decrypt_pii(keys, account["account_enc"], context=ACCOUNT_CONTEXT) == ACCOUNT
    audit = await pool.fetchrow(
        "SELECT actor, after FROM audit_log WHERE action = 'disbursements.beneficiary.created'"
    )
    assert audit["actor"].startswith("staff:") or finance.username in audit["actor"]

    # the same through GET, and nothing personal in the log lines either
    one = await client.get(f"{BENEFICIARIES}/{out['id']}", headers=finance.headers())
    assert one.status == 200
    assert (await one.json())["national_id"] == "001******234"
    listed = await client.get(BENEFICIARIES, params={"q": CCCD}, headers=finance.headers())
    body = await listed.json()
    assert body["total"] == 1 and body["beneficiaries"][0]["id"] == out["id"]
    assert CCCD not in json.dumps(body) and ACCOUNT not in json.dumps(body)
    logged = capsys.readouterr()
    assert CCCD not in logged.out + logged.err and ACCOUNT not in logged.out + logged.err
    assert NAME not in logged.out + logged.err and "Nguy" not in logged.out + logged.err


async def test_search_by_account_number_and_state_filter(client, staff_login):
    finance = await staff_login("finance")
    a = await enrol_via_api(client, finance)
    b = await enrol_via_api(
        client,
        finance,
        national_id="079160004321",
        full_name="Trần Thị Bích Ngọc",
        birth_date="1960-01-09",
        account_number="0011000567890",
    )
    by_account = await (
        await client.get(BENEFICIARIES, params={"q": "0011 0005 67890"}, headers=finance.headers())
    ).json()
    assert [x["id"] for x in by_account["beneficiaries"]] == [b["id"]]
    everyone = await (await client.get(BENEFICIARIES, headers=finance.headers())).json()
    assert [x["id"] for x in everyone["beneficiaries"]] == [b["id"], a["id"]]  # newest first
    unverified = await (
        await client.get(BENEFICIARIES, params={"state": "unverified"}, headers=finance.headers())
    ).json()
    assert unverified["total"] == 2
    assert (
        await (await client.get(BENEFICIARIES, params={"state": "payable"}, headers=finance.headers())).json()
    )["total"] == 0
    nothing = await (
        await client.get(BENEFICIARIES, params={"q": "Nguyễn"}, headers=finance.headers())
    ).json()
    assert nothing["total"] == 0  # names are encrypted: no search by name
    paged = await (
        await client.get(BENEFICIARIES, params={"per_page": "1", "page": "2"}, headers=finance.headers())
    ).json()
    assert [x["id"] for x in paged["beneficiaries"]] == [a["id"]] and paged["total"] == 2
    bad = await client.get(BENEFICIARIES, params={"per_page": "100000"}, headers=finance.headers())
    assert bad.status == 422


BAD_CCCD = [
    ("00105500123", "length"),
    ("00105500123X", "length"),
    ("001055\u200b001234", "length"),
    ("003055001234", "province"),
    ("001255001234", "century"),  # 2 = born 2000–2099, but 1955
    ("001056001234", "year"),  # 56, but born 1955
]


@pytest.mark.parametrize(("cccd", "kind"), BAD_CCCD)
async def test_an_invalid_cccd_is_refused_with_its_reason_and_stores_nothing(client, staff_login, cccd, kind):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    resp = await client.post(
        BENEFICIARIES, json=person(national_id=cccd), headers=finance.headers(unsafe=True)
    )
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["field"] == "national_id"
    assert [e["field"] for e in problem["errors"]] == ["national_id"]
    vi = {"length": "12 chữ số", "province": "mã tỉnh", "century": "thế kỷ sinh", "year": "năm sinh"}
    assert vi[kind] in problem["errors"][0]["message"]  # Vietnamese first
    en = {"length": "12 digits", "province": "province code", "century": "4th digit", "year": "birth year"}
    assert en[kind] in problem["detail"]
    assert await counts(pool) == before


async def test_a_cccd_twice_in_a_programme_is_refused_by_the_database(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    first = await enrol_via_api(client, finance)
    before = await counts(pool)
    again = await client.post(BENEFICIARIES, json=person(), headers=finance.headers(unsafe=True))
    assert again.status == 409
    problem = await again.json()
    assert problem["type"] == "/problems/disbursements-enrolled-twice" and problem["field"] == "programmes"
    assert await counts(pool) == before
    # the same CCCD in another programme is a new enrolment of the same person
    other = await client.post(
        BENEFICIARIES, json=person(programmes=["social_assistance"]), headers=finance.headers(unsafe=True)
    )
    assert other.status == 201
    out = await other.json()
    assert out["id"] == first["id"] and out["outcome"] == "enrolled"
    assert [e["programme"] for e in out["enrolments"]] == ["pension", "social_assistance"]
    assert [e["monthly_amount"] for e in out["enrolments"]] == [3_500_000, 500_000]  # the defaults
    # the same CCCD with another name or account: refused, nothing changed
    for changed in (
        {"full_name": "Nguyễn Văn Bình", "programmes": ["unemployment"]},
        {"account_number": "0011000567890", "programmes": ["unemployment"]},
    ):
        before = await counts(pool)
        resp = await client.post(BENEFICIARIES, json=person(**changed), headers=finance.headers(unsafe=True))
        assert resp.status == 409
        assert await counts(pool) == before


async def test_the_database_itself_refuses_a_second_enrolment(conn, keys):
    """Without the service: the primary key is the guard (a CCCD hash is unique, an enrolment too)."""
    import asyncpg

    from disbursements.beneficiaries import NewBeneficiary, enrol_beneficiary

    new = NewBeneficiary(
        CCCD, NAME, __import__("datetime").date(1955, 3, 2), {"pension": 1}, "970436", ACCOUNT
    )
    first = await enrol_beneficiary(conn, keys, new, actor="test")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await conn.execute(
            "INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount) "
            "VALUES ('pension', $1, 5)",
            first.beneficiary_id,
        )
    assert caught.value.constraint_name == "disb_enrolments_pkey"
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "INSERT INTO disb_accounts (beneficiary_id, bank_bin, account_enc, account_hash, account_masked) "
            "VALUES ($1, '970436', 'x', $2, '****1234')",
            first.beneficiary_id,
            b"\x00" * 32,
        )


@pytest.mark.parametrize(
    "amounts",
    [
        {"pension": 10**13},
        {"pension": 0},
        {"pension": -3_500_000},
        {"pension": 1_000_000_001},
        {"unemployment": 3_000_000},  # a programme the person is not enrolled in
    ],
)
async def test_absurd_amounts_are_refused(client, staff_login, amounts):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    resp = await client.post(
        BENEFICIARIES, json=person(monthly_amounts=amounts), headers=finance.headers(unsafe=True)
    )
    assert resp.status == 422
    assert (await resp.json())["field"].startswith("monthly_amounts")
    assert await counts(pool) == before


def _raw(**changes) -> str:
    return json.dumps({**person(full_name="A B"), **changes})


@pytest.mark.parametrize(
    "raw",
    [
        _raw(monthly_amounts={"pension": 1.5}),
        _raw(monthly_amounts={"pension": "9"}),
        _raw(monthly_amounts={"pension": True}),
        _raw(national_id=1055001234),
        _raw(birth_date="1955-02-30"),
        _raw(birth_date="2999-01-01"),
        _raw(programmes="pension"),
        _raw(role="admin"),
        '{"national_id": "001055001234", "national_id": "001055001234"}',
        "[]",
        "{",
    ],
)
async def test_malformed_bodies_are_4xx_and_store_nothing(client, staff_login, raw):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    resp = await client.post(
        BENEFICIARIES,
        data=raw.encode(),
        headers={**finance.headers(unsafe=True), "Content-Type": "application/json"},
    )
    assert 400 <= resp.status < 500
    assert resp.content_type == "application/problem+json"
    assert await counts(pool) == before


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Nguyễn\u200bVăn An", "U+200B"),  # zero-width space
        ("Nguyễn Văn\u202e An", "U+202E"),  # right-to-left override
        ("\ufeffNguyễn Văn An", "U+FEFF"),  # BOM
        ("Nguyễn Văn\u0000An", None),  # NUL: refused before anything reads it
        ("Nguyễn Văn An 2", None),  # digits are no part of a name
        ('=HYPERLINK("x")', None),
        ("A", None),
    ],
)
async def test_names_with_invisible_or_foreign_characters_are_refused(client, staff_login, name, shown):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    resp = await client.post(BENEFICIARIES, json=person(full_name=name), headers=finance.headers(unsafe=True))
    assert resp.status == 422
    problem = await resp.json()
    assert problem.get("field") in ("full_name", "body", None) or "full_name" in json.dumps(problem)
    if shown:
        assert shown in json.dumps(problem)
    assert await counts(pool) == before


async def test_names_are_stored_normalised(client, staff_login, keys):
    finance = await staff_login("finance")
    decomposed = "Nguye\u0302\u0303n   Va\u0306n  An"  # NFD, with extra spaces
    await enrol_via_api(client, finance, full_name=decomposed)
    enc = await client.app[POOL].fetchval("SELECT full_name_enc FROM disb_beneficiaries")
    assert decrypt_pii(keys, enc, context=NAME_CONTEXT) == NAME  # NFC, single spaces


async def test_roles(client, staff_login, api_token):
    finance = await staff_login("finance")
    created = await enrol_via_api(client, finance)
    pool = client.app[POOL]
    url = f"{BENEFICIARIES}/{created['id']}"
    for role in ("attendant",):
        someone = await staff_login(role)
        assert (await client.get(BENEFICIARIES, headers=someone.headers())).status == 403
        assert (await client.get(url, headers=someone.headers())).status == 403
    approver = await staff_login("approver")
    assert (await client.get(url, headers=approver.headers())).status == 200
    before = await counts(pool)
    for who in (approver, await staff_login("attendant")):
        write = await client.post(
            BENEFICIARIES, json=person(programmes=["unemployment"]), headers=who.headers(unsafe=True)
        )
        assert write.status == 403
        change = await client.put(
            f"{url}/account",
            json={"bank_bin": "970436", "account_number": "0011000567890"},
            headers=who.headers(unsafe=True),
        )
        assert change.status == 403
    assert await counts(pool) == before
    assert (await client.get(BENEFICIARIES)).status == 401
    assert (await client.post(BENEFICIARIES, json=person())).status == 401
    # no CSRF token: refused
    assert (await client.post(BENEFICIARIES, json=person(), headers=finance.headers())).status == 403
    admin = await staff_login("admin")
    assert (await client.get(url, headers=admin.headers())).status == 200


async def test_changing_the_account_makes_it_unverified_and_keeps_the_old_one(client, staff_login):
    finance = await staff_login("finance")
    created = await enrol_via_api(client, finance)
    pool = client.app[POOL]
    old_id = await pool.fetchval("SELECT id FROM disb_accounts")
    await pool.execute(
        "UPDATE disb_accounts SET state = 'verified', checked_at = now(), "
        "verified_until = now() + interval '90 days'"
    )
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") is None  # payable
    url = f"{BENEFICIARIES}/{created['id']}/account"
    resp = await client.post(
        url,
        json={"bank_bin": "970415", "account_number": "101876543210"},
        headers=finance.headers(unsafe=True),
    )
    assert resp.status == 200
    out = await resp.json()
    assert out["changed"] is True and out["account_state"] == "unverified" and out["bank_bin"] == "970415"
    assert out["account_number"] == "****3210"
    assert [(a["active"], a["state"]) for a in out["accounts"]] == [(True, "unverified"), (False, "verified")]
    assert await pool.fetchval("SELECT hold_reason FROM disb_roster") == "unverified"
    assert await pool.fetchval("SELECT active FROM disb_accounts WHERE id = $1", old_id) is False
    audit = await pool.fetchrow(
        "SELECT before, after FROM audit_log WHERE action = 'disbursements.account.changed'"
    )
    assert "101876543210" not in json.dumps(audit["after"]) and audit["before"]["state"] == "verified"
    # the same account again changes nothing
    same = await client.put(
        url,
        json={"bank_bin": "970415", "account_number": "1018 7654 3210"},
        headers=finance.headers(unsafe=True),
    )
    assert (await same.json())["changed"] is False
    assert await pool.fetchval("SELECT count(*) FROM disb_accounts") == 2
    # an invalid account: 422, nothing changed
    for bad in (
        {"bank_bin": "97041", "account_number": "101876543210"},
        {"bank_bin": "970415", "account_number": "12ab"},
    ):
        resp = await client.put(url, json=bad, headers=finance.headers(unsafe=True))
        assert resp.status == 422
    assert await pool.fetchval("SELECT count(*) FROM disb_accounts") == 2
    missing = await client.put(
        f"{BENEFICIARIES}/999999/account",
        json={"bank_bin": "970415", "account_number": "101876543210"},
        headers=finance.headers(unsafe=True),
    )
    assert missing.status == 404


async def test_unknown_beneficiary_and_ids_beyond_bigint(client, staff_login):
    finance = await staff_login("finance")
    assert (await client.get(f"{BENEFICIARIES}/424242", headers=finance.headers())).status == 404
    assert (
        await client.get(f"{BENEFICIARIES}/99999999999999999999", headers=finance.headers())
    ).status == 404


async def test_programmes_are_listed(client, staff_login):
    finance = await staff_login("finance")
    resp = await client.get("/api/v1/disbursements/programmes", headers=finance.headers())
    codes = [p["code"] for p in (await resp.json())["programmes"]]
    assert codes == ["pension", "social_insurance", "unemployment", "social_assistance"]


async def test_the_same_new_person_sent_twice_at_once_is_stored_once(client, staff_login):
    """Two requests race to register the same CCCD: the database's UNIQUE keys decide; the loser is a 409."""
    import asyncio

    finance = await staff_login("finance")

    async def send():
        resp = await client.post(BENEFICIARIES, json=person(), headers=finance.headers(unsafe=True))
        return resp.status

    statuses = sorted(await asyncio.gather(*(send() for _ in range(4))))
    assert statuses == [201, 409, 409, 409]
    pool = client.app[POOL]
    assert (await counts(pool))["disb_beneficiaries"] == 1
    assert (await counts(pool))["disb_enrolments"] == 1
    assert (await counts(pool))["disb_accounts"] == 1


async def test_oversized_fields_are_refused_without_echoing_them(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    for body in (
        person(programmes=["x" * 5000]),
        person(monthly_amounts={"y" * 5000: 1}),
        person(full_name="Nguyễn " * 100),
        person(account_number="1" * 41),
    ):
        resp = await client.post(BENEFICIARIES, json=body, headers=finance.headers(unsafe=True))
        assert resp.status == 422
        assert len(await resp.read()) < 3000
    assert await counts(pool) == before


async def test_money_goes_only_to_a_listed_bank_never_to_the_city_nor_to_anothers_account(
    client, staff_login
):
    """An outside audit paid into each of these: an unknown BIN, the city's own treasury account, and one
    account registered for two CCCDs one digit apart (both verified, both paid for the same month)."""
    finance = await staff_login("finance")
    pool = client.app[POOL]
    await pool.execute(
        "INSERT INTO collection_accounts (code, bin, account_number, holder_name) VALUES "
        "('hanoi-treasury-test', $1, '0011001234567', 'KHO BAC NHA NUOC HA NOI') ON CONFLICT DO NOTHING",
        person()["bank_bin"],
    )
    first = await enrol_via_api(client, finance)
    before = await counts(pool)
    for changed, status, field in (
        ({"bank_bin": "999999"}, 422, "bank_bin"),
        ({"account_number": "0011001234567"}, 422, "account_number"),
        ({"national_id": "001055001235", "full_name": "Nguyễn Văn An"}, 409, "account_number"),
    ):
        body = person(**{"national_id": "001055009876", "full_name": "Trần Thị Bình", **changed})
        resp = await client.post(BENEFICIARIES, json=body, headers=finance.headers(unsafe=True))
        assert resp.status == status, (changed, await resp.text())
        assert (await resp.json())["field"] == field
        assert await counts(pool) == before
    # nor by changing an account afterwards
    other = await enrol_via_api(
        client, finance, national_id="001055009876", full_name="Trần Thị Bình", account_number="0011000999888"
    )
    moved = await client.put(
        f"{BENEFICIARIES}/{other['id']}/account",
        json={"bank_bin": person()["bank_bin"], "account_number": "0011000456789"},
        headers=finance.headers(unsafe=True),
    )
    assert moved.status == 409 and (await moved.json())["field"] == "account_number"
    assert first["id"] != other["id"]


async def test_one_account_sent_for_twenty_people_at_once_goes_to_one(client, staff_login):
    """The shared-account check is a read before an insert: an advisory lock on the account orders twenty
    registrations sent together, so one person gets it and nineteen are told it is taken."""
    import asyncio

    finance = await staff_login("finance")
    pool = client.app[POOL]
    names = ["Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Vũ Văn Em", "Đỗ Thị Hoa"] * 4
    bodies = [
        person(national_id=f"0010550{n:05d}", full_name=name, account_number="0011000999777")
        for n, name in enumerate(names, start=2000)
    ]
    answers = await asyncio.gather(
        *(client.post(BENEFICIARIES, json=b, headers=finance.headers(unsafe=True)) for b in bodies)
    )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1 and statuses.count(409) == 19, statuses
    assert await pool.fetchval("SELECT count(*) FROM disb_accounts WHERE active") == 1
    assert await pool.fetchval("SELECT count(*) FROM disb_beneficiaries") == 1
