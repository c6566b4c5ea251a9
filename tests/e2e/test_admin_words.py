"""Words on the staff pages (issue 12 points 6 and 13): every refusal the staff accounts, API tokens and bank
profiles forms paint, in Vietnamese, is a catalogue sentence — no parameter name, internal id or API English.
Page tests over HTTP (no browser); the parking administration's forms are covered in
tests/parking/test_admin_forms.py."""

from __future__ import annotations

import re

import pytest

from core.db import connect
from payments.demo import load_payments_demo
from tests.catalogue import not_in_catalogue
from tests.parking.test_admin_forms import shown_errors

# The API's parameter names and English words that must never reach a Vietnamese page.
_NEVER = re.compile(r"\b[a-z]+_[a-z_]+\b|'|\b(must|not|should|invalid|or)\b")


@pytest.fixture
async def demo(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        return await conn.fetchval("SELECT code FROM bank_profiles ORDER BY code LIMIT 1")
    finally:
        await conn.close()


async def _post(client, admin, page: str, path: str, data: dict):
    html = await (await client.get(page, headers=admin.headers())).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    cookie = admin.headers()["Cookie"] + "; lang=vi"
    return await client.post(
        path, data={"csrf_token": csrf, **data}, headers={"Cookie": cookie}, allow_redirects=False
    )


async def test_staff_tokens_and_banks_refusals_are_catalogue_sentences(client, staff_login, demo):
    admin = await staff_login("admin")
    other = await staff_login("finance")
    bank = demo
    S, T, B = "/admin/staff", "/admin/tokens", "/admin/banks"
    cases = [
        (S, S, {}),
        (S, S, {"username": "Tên Có Dấu", "display_name": "Lan", "role": "finance", "password": "ngắn"}),
        (S, S, {"username": other.username, "display_name": "Lan", "role": "finance", "password": "x" * 12}),
        (S, f"{S}/{other.username}/reset-password", {"password": "ngắn"}),
        (S, f"{S}/unlock-address", {"address": ""}),
        (T, T, {}),
        (T, T, {"name": "Cổng", "scopes": "bay-len-troi"}),
        (T, T, {"name": "Cổng", "scopes": "payment-requests:write"}),
        (B, B, {}),
        (B, B, {"code": "Ngân Hàng", "name": "X", "bin": "12", "scheme": "bồ-câu", "tolerance_s": "5"}),
        (B, B, {"code": bank, "name": "X", "bin": "970436", "scheme": "citypay-bank-v1"}),
        (B, f"{B}/{bank}/keys", {"key_id": "khoá mới", "public_key_pem": "không phải khoá"}),
        (
            B,
            f"{B}/{bank}/keys",
            {"key_id": "k2", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END"},
        ),
    ]
    texts, statuses = [], []
    for page, path, data in cases:
        resp = await _post(client, admin, page, path, data)
        statuses.append((path, resp.status))
        shown = shown_errors(await resp.text())
        assert shown, (path, data, resp.status)
        texts += shown
    assert all(400 <= s < 500 for _, s in statuses), statuses
    assert not_in_catalogue(texts) == []
    assert [t for t in texts if _NEVER.search(t)] == []


async def test_a_forged_choice_reads_as_a_vietnamese_sentence(client, staff_login, demo):
    admin = await staff_login("admin")
    data = {"username": "lan-nguyen", "display_name": "Lan", "role": "kingmaker", "password": "x" * 12}
    texts = shown_errors(await (await _post(client, admin, "/admin/staff", "/admin/staff", data)).text())
    assert texts and [t for t in texts if _NEVER.search(t)] == []
