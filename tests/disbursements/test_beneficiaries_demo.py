"""The demo: the sample CSV imports cleanly and, verified against the simulated bank, gives the journey's
picture (eight verified — two of them refused at payout later —, one mismatch for review, one closed, one
blocked, one deceased); demo mode preloads
two others once; the probe calls beneficiaries outside a demo database real data."""

from __future__ import annotations

from collections import Counter

from core.appkeys import KEYS, POOL, SETTINGS
from core.db import connect
from disbursements.demo import SAMPLE_CSV, load_disbursements_demo, probe
from disbursements.verification import verification_worker


async def test_the_sample_file_gives_the_journeys_picture(sim_bank, make_app, aiohttp_client, staff_login):
    _sim, url, _db = sim_bank
    client = await aiohttp_client(make_app(background=False, banksim_url=url))
    finance = await staff_login("finance")
    resp = await client.post(
        "/api/v1/disbursements/beneficiaries/import",
        data=SAMPLE_CSV.read_bytes(),
        headers={**finance.headers(unsafe=True), "Content-Type": "text/csv"},
    )
    out = await resp.json()
    assert (out["created"], out["failed"]) == (12, 0), out["errors"]
    queued = await client.post("/api/v1/disbursements/verify", headers=finance.headers(unsafe=True))
    assert (await queued.json())["queued"] == 12
    app = client.app
    worker = verification_worker(app[POOL], app[KEYS], app[SETTINGS])
    while await worker.run_due():
        pass
    states = Counter(r[0] for r in await app[POOL].fetch("SELECT state FROM disb_accounts"))
    assert states == {"verified": 8, "mismatch": 1, "closed": 1, "blocked": 1, "deceased": 1}
    id_confirmed = await app[POOL].fetchval("SELECT count(*) FROM disb_accounts WHERE id_match")
    assert id_confirmed == 4
    # the two the network still answers are closed / deceased at their bank: a payout to them is refused
    for bank_bin, account, code in (("970422", "0987650001", "AC04"), ("970415", "101800135790", "MD07")):
        body = {"to_bin": bank_bin, "to_account": account, "amount": 1_000, "narrative": "LUONG HUU T01/2026"}
        refused = await _sim.post("/sim/api/payouts", json=body, headers={"Idempotency-Key": f"demo-{code}"})
        assert (await refused.json())["reason_code"] == code
    sample = await client.get("/disbursements/beneficiaries/sample.csv", headers=finance.headers())
    assert sample.status == 200 and (await sample.read()).startswith(b"\xef\xbb\xbfnational_id,")


async def test_demo_preloads_two_others_once(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        assert (await probe(conn)).tables_with_rows == ()
        await load_disbursements_demo(conn, settings, keys)
        await load_disbursements_demo(conn, settings, keys)
        rows = await conn.fetch("SELECT programme FROM disb_enrolments ORDER BY programme")
        assert [r[0] for r in rows] == ["social_assistance", "unemployment"]
        report = await probe(conn)
        assert report.tables_with_rows == ("disb_beneficiaries",) and report.looks_like_demo is True
        # someone else: real data
        from datetime import date

        from disbursements.beneficiaries import NewBeneficiary, enrol_beneficiary

        await enrol_beneficiary(
            conn,
            keys,
            NewBeneficiary(
                "079088009876", "Lý Văn Real", date(1988, 1, 1), {"pension": 1}, "970436", "0011000999999"
            ),
            actor="test",
        )
        assert (await probe(conn)).looks_like_demo is False
    finally:
        await conn.close()
