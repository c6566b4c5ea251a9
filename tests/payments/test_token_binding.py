"""Agency tokens are bound to the fee codes they may charge and the channels they may assert (issue 8.12):
attacks over HTTP with a token of one agency, and token creation through the admin API, the CLI and the
migration of tokens issued before the binding existed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.appkeys import POOL
from core.db import connect, load_migrations, migrate
from core.keys import keys_as_env

pytestmark = pytest.mark.usefixtures("catalogue")
ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/payment-requests"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(client, headers, body):
    return await client.post(URL, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})


async def counts(client) -> tuple[int, int]:
    pool = client.app[POOL]
    requests = await pool.fetchval("SELECT count(*) FROM payment_requests")
    budget = await pool.fetchval("SELECT sum(budget_used) FROM subsidy_programmes")
    return requests, budget


async def test_a_judicial_records_token_cannot_charge_a_driving_licence_fee(client, api_token):
    judicial = bearer(await api_token("payment-requests:write", fee_codes=["LLTP"], channels=[]))
    resp = await create(client, judicial, {"kind": "service_fee", "fee_code": "GPLX-DOI"})
    assert resp.status == 403 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == "/problems/fee-code-not-allowed" and problem["field"] == "fee_code"
    assert "LLTP" in problem["detail"]
    # a code the catalogue does not have is refused the same way (the catalogue is not probed)
    resp = await create(client, judicial, {"kind": "service_fee", "fee_code": "NOPE"})
    assert resp.status == 403 and (await resp.json())["type"] == "/problems/fee-code-not-allowed"
    assert await counts(client) == (0, 0)
    # its own fee still works
    resp = await create(client, judicial, {"kind": "service_fee", "fee_code": "LLTP"})
    assert resp.status == 201 and (await resp.json())["amount_due"] == 200_000


async def test_a_channel_the_token_may_not_assert_unlocks_no_subsidy(client, api_token):
    plain = bearer(await api_token("payment-requests:write", fee_codes=["LLTP"], channels=[]))
    body = {"kind": "service_fee", "fee_code": "LLTP", "channel": "vneid"}
    resp = await create(client, plain, body)
    assert resp.status == 403 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == "/problems/channel-not-allowed" and problem["field"] == "channel"
    assert await counts(client) == (0, 0)  # no request, no subsidy budget taken
    # a token bound to the VNeID channel gets the subsidy
    vneid = bearer(await api_token("payment-requests:write", fee_codes=["LLTP"], channels=["vneid"]))
    resp = await create(client, vneid, body)
    assert resp.status == 201
    pr = await resp.json()
    assert pr["amount_due"] == 0 and pr["subsidy_amount"] == 200_000 and pr["status"] == "paid"
    # and even that token may not assert a channel it is not bound to
    resp = await create(client, vneid, {**body, "channel": "kiosk"})
    assert resp.status == 403 and (await resp.json())["field"] == "channel"
    assert await counts(client) == (1, 200_000)


async def test_a_token_reads_and_cancels_only_its_own_requests(client, api_token):
    mine = bearer(await api_token("payment-requests:write", fee_codes=["LLTP"]))
    other = bearer(await api_token("payment-requests:write", fee_codes=["LLTP"]))
    pr = await (await create(client, mine, {"kind": "service_fee", "fee_code": "LLTP"})).json()
    assert (await client.get(f"{URL}/{pr['id']}", headers=other)).status == 404
    resp = await client.post(f"{URL}/{pr['id']}/cancel", json={"reason": "not mine"}, headers=other)
    assert resp.status == 404 and (await resp.json())["type"] == "/problems/not-found"
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", uuid.UUID(pr["id"])) == (
        "pending"
    )
    assert (await client.get(f"{URL}/{pr['id']}", headers=mine)).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "agency", "scopes": ["payment-requests:write"]}, "fee_codes"),
        ({"name": "agency", "scopes": ["payment-requests:write"], "fee_codes": []}, "fee_codes"),
        ({"name": "agency", "scopes": ["payment-requests:write"], "fee_codes": ["lltp;drop"]}, "fee_codes"),
        (
            {
                "name": "agency",
                "scopes": ["payment-requests:write"],
                "fee_codes": ["LLTP"],
                "channels": ["VNeID"],
            },
            "channels",
        ),
        ({"name": "reader", "scopes": ["payment-requests:read"], "fee_codes": ["LLTP"]}, "fee_codes"),
        ({"name": "reader", "scopes": ["ledger:read"], "channels": ["vneid"]}, "channels"),
    ],
)
async def test_admin_api_refuses_unbound_or_misbound_tokens(client, staff_login, body, field):
    admin = await staff_login("admin")
    resp = await client.post("/api/v1/admin/tokens", json=body, headers=admin.headers(unsafe=True))
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == field
    assert await client.app[POOL].fetchval("SELECT count(*) FROM api_tokens") == 0


async def test_admin_api_creates_a_bound_token_that_works(client, staff_login):
    admin = await staff_login("admin")
    body = {
        "name": "Sở Tư pháp",
        "scopes": ["payment-requests:write"],
        "fee_codes": ["LLTP", "LLTP"],
        "channels": ["vneid"],
    }
    resp = await client.post("/api/v1/admin/tokens", json=body, headers=admin.headers(unsafe=True))
    assert resp.status == 201
    created = await resp.json()
    assert created["fee_codes"] == ["LLTP"] and created["channels"] == ["vneid"]
    listed = await (await client.get("/api/v1/admin/tokens", headers=admin.headers())).json()
    assert listed["items"][0]["fee_codes"] == ["LLTP"] and "token" not in listed["items"][0]
    audit = await client.app[POOL].fetchval("SELECT after FROM audit_log WHERE action = 'token.create'")
    assert audit["fee_codes"] == ["LLTP"] and audit["channels"] == ["vneid"]
    token = bearer(created["token"])
    assert (await create(client, token, {"kind": "service_fee", "fee_code": "GPLX-DOI"})).status == 403
    assert (await create(client, token, {"kind": "service_fee", "fee_code": "LLTP"})).status == 201


def _cli(db_url: str, keys, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, **keys_as_env(keys)}
    return subprocess.run(
        [sys.executable, "main.py", "create-token", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_refuses_a_write_token_without_fee_codes_and_binds_one_with_them(db_url, keys):
    refused = _cli(db_url, keys, "agency", "--scope", "payment-requests:write")
    assert refused.returncode == 1 and "fee_codes" in refused.stderr and "--fee-codes" in refused.stderr
    conn = await connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 0
        made = _cli(
            db_url,
            keys,
            "agency",
            "--scope",
            "payment-requests:write",
            "--fee-codes",
            "LLTP,HT-BANSAO",
            "--channels",
            "vneid",
        )
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip().splitlines()[-1].startswith("cpt_")
        row = await conn.fetchrow("SELECT fee_codes, channels FROM api_tokens")
        assert (row["fee_codes"], row["channels"]) == (["HT-BANSAO", "LLTP"], ["vneid"])
    finally:
        await conn.close()


async def test_tokens_from_before_the_binding_keep_what_they_could_do_then(empty_db_url):
    """Migration 0008: an existing write token may charge the fees and assert the channels that existed when
    it ran, nothing added later; a read-only token gets no fee codes."""
    files = load_migrations()
    before = [m for m in files if m.version < 8]
    conn = await connect(empty_db_url)
    try:
        await migrate(conn, before)
        await conn.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011001234567', 'KHO BAC');
               INSERT INTO fee_catalogue (code, name_vi, name_en, amount, agency, revenue_account,
                                          collection_account_id)
               SELECT c, c, c, 1000, 'Sở', 'revenue:fee:' || c, (SELECT id FROM collection_accounts)
                 FROM unnest(ARRAY['LLTP', 'GPLX-DOI']) c;
               INSERT INTO subsidy_programmes (code, name_vi, name_en, fee_code, channel, per_request,
                                               budget_cap, valid_from, valid_until)
               VALUES ('free-lltp', 'x', 'x', 'LLTP', 'vneid', 1000, 10000, now(), now() + interval '1 day');
               INSERT INTO api_tokens (token_prefix, secret_hash, name, scopes, created_by) VALUES
                   ('aaaaaaaa', '\\x00', 'old writer', '{payment-requests:write}', 'test'),
                   ('bbbbbbbb', '\\x00', 'old reader', '{payment-requests:read}', 'test');"""
        )
        await migrate(conn)
        rows = await conn.fetch("SELECT name, fee_codes, channels FROM api_tokens ORDER BY name")
        assert [(r["name"], r["fee_codes"], r["channels"]) for r in rows] == [
            ("old reader", None, []),
            ("old writer", ["GPLX-DOI", "LLTP"], ["vneid"]),
        ]
        with pytest.raises(Exception, match="api_tokens_writer_has_fee_codes"):
            await conn.execute("UPDATE api_tokens SET fee_codes = NULL WHERE name = 'old writer'")
    finally:
        await conn.close()


def test_the_demo_token_is_bound_to_the_demo_catalogue():
    from core.demo import DEMO_TOKEN_CHANNELS, DEMO_TOKEN_FEE_CODES
    from payments.demo import DEMO_FEES, DEMO_SUBSIDIES

    assert sorted(DEMO_TOKEN_FEE_CODES) == sorted(f[0] for f in DEMO_FEES)
    assert {s[4] for s in DEMO_SUBSIDIES} <= set(DEMO_TOKEN_CHANNELS)


async def test_admin_page_refuses_an_unbound_write_token_and_shows_a_bound_one_once(client, staff_login):
    admin = await staff_login("admin")
    form = {"name": "Sở Tư pháp", "scopes": "payment-requests:write", "csrf_token": admin.csrf}
    pool = client.app[POOL]
    forged = await client.post("/admin/tokens", data={**form, "csrf_token": "x"}, headers=admin.headers())
    assert forged.status == 403
    refused = await client.post("/admin/tokens", data=form, headers=admin.headers())
    assert refused.status == 422 and "fee_codes" in await refused.text()
    assert await pool.fetchval("SELECT count(*) FROM api_tokens") == 0
    made = await client.post(
        "/admin/tokens", data={**form, "fee_codes": "LLTP", "channels": "vneid"}, headers=admin.headers()
    )
    html = await made.text()
    assert made.status == 201 and 'id="new-token-value"' in html
    secret = html.split('id="new-token-value"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert secret.startswith("cpt_")
    row = await pool.fetchrow("SELECT id, fee_codes, channels FROM api_tokens")
    assert (row["fee_codes"], row["channels"]) == (["LLTP"], ["vneid"])
    listing = await (await client.get("/admin/tokens", headers=admin.headers())).text()
    assert secret not in listing and "LLTP" in listing  # shown once only
    token = bearer(secret)
    assert (await create(client, token, {"kind": "service_fee", "fee_code": "GPLX-DOI"})).status == 403
    revoked = await client.post(
        f"/admin/tokens/{row['id']}/revoke",
        data={"csrf_token": admin.csrf},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert revoked.status == 303
    assert (await create(client, token, {"kind": "service_fee", "fee_code": "LLTP"})).status == 401
