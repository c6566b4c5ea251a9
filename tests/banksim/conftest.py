"""Bank simulator fixtures: a fresh simulator database per test, and a fake citypay that checks each callback
exactly as docs/bank-protocol.md says (written here from the document, not from either implementation) and
answers signed with a test city key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vietnam_qr_pay import QRPay

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from tests.conftest import drop_database, with_database

CITY_BIN, CITY_ACCOUNT = "970436", "0011001234567"
BANK_CODE = "vcb-sim"
BANK_KEY_ID = "sim-test-2026a"
CITY_KEY_ID = "city-test-2026a"
BODY_FIELDS = [
    "bank_txn_id",
    "credited_bin",
    "credited_account",
    "amount",
    "currency",
    "booked_at",
    "narrative",
    "payer_name",
    "payer_account_masked",
]


def vietqr(
    amount: int | None = 200_000, purpose: str | None = "CPK7M2Q9X4W1T", *, account: str = CITY_ACCOUNT
) -> str:
    """A VietQR payload as any issuer would make it (built with the independent library)."""
    return QRPay.init_viet_qr(
        bank_bin=CITY_BIN, bank_number=account, amount=str(amount) if amount else None, purpose=purpose
    ).build()


@pytest.fixture
async def banksim_db(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database per test; the simulator migrates and seeds it when it starts."""
    name = f"banksim_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(server_dsn, name)
    await drop_database(server_dsn, name)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verdict: str  # accepted | duplicate | a rejection reason | "unavailable"
    status: int


@dataclass
class FakeCitypay:
    """citypay's side of citypay-bank-v1, reduced to what the simulator must satisfy."""

    bank_key: Any
    city_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    fail_first: int = 0  # answer 503 to this many valid callbacks first
    wrong_answer_key_first: int = 0  # sign this many answers with a key that is not the city's
    received: list[Received] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)
    key_fetches: int = 0
    key_published: bool = True

    @property
    def city_public_key(self):
        return self.city_key.public_key()

    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verdict in ("accepted", "duplicate")]

    def _answer(
        self, http: int, status: str, txn: str | None, reason: str | None, fld: str | None
    ) -> web.Response:
        body = json.dumps(
            {"bank_txn_id": txn, "field": fld, "reason": reason, "status": status}, separators=(",", ":")
        ).encode()
        ts = str(int(time.time()))
        key = self.city_key
        if self.wrong_answer_key_first > 0:
            self.wrong_answer_key_first -= 1
            key = Ed25519PrivateKey.generate()
        sig = base64.b64encode(key.sign(ts.encode() + b"." + body)).decode()
        headers = {"X-Citypay-Timestamp": ts, "X-Citypay-Key-Id": CITY_KEY_ID, "X-Citypay-Signature": sig}
        return web.Response(status=http, body=body, content_type="application/json", headers=headers)

    def _check(self, request: web.Request, body: bytes) -> tuple[int, str, str | None, dict | None]:
        """§4–§7 in the document's order. Returns (http status, verdict, field, parsed body)."""
        if request.content_type != "application/json":
            return 415, "unsupported_media_type", None, None
        if len(body) > 65_536:
            return 413, "too_large", None, None
        values = {}
        for name in ("X-Citypay-Timestamp", "X-Citypay-Key-Id", "X-Citypay-Signature"):
            got = request.headers.getall(name, [])
            if len(got) != 1:
                return 401, "missing_header", name, None
            values[name] = got[0]
        ts = values["X-Citypay-Timestamp"]
        if not re.fullmatch(r"[0-9]{1,12}", ts):
            return 401, "malformed_timestamp", "X-Citypay-Timestamp", None
        if abs(int(ts) - time.time()) > 300:
            return 401, "stale_timestamp", "X-Citypay-Timestamp", None
        if values["X-Citypay-Key-Id"] != BANK_KEY_ID:
            return 401, "unknown_key", "X-Citypay-Key-Id", None
        sig_text = values["X-Citypay-Signature"]
        try:
            sig = base64.b64decode(sig_text, validate=True)
        except (binascii.Error, ValueError):
            return 401, "malformed_signature", "X-Citypay-Signature", None
        if base64.b64encode(sig).decode() != sig_text or len(sig) != 64:
            return 401, "malformed_signature", "X-Citypay-Signature", None
        try:
            self.bank_key.public_key().verify(sig, ts.encode("ascii") + b"." + body)
        except InvalidSignature:
            return 401, "bad_signature", "X-Citypay-Signature", None
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return 400, "malformed_json", None, None
        if not isinstance(parsed, dict) or list(parsed) != BODY_FIELDS:
            return 422, "malformed", "body", None
        if type(parsed["amount"]) is not int or not 1 <= parsed["amount"] <= 9_999_999_999_999:
            return 422, "malformed", "amount", None
        if not re.fullmatch(r"[!-~]{1,64}", parsed["bank_txn_id"]):
            return 422, "malformed", "bank_txn_id", None
        if not re.fullmatch(r"[0-9]{6}", parsed["credited_bin"]) or parsed["currency"] != "VND":
            return 422, "malformed", "credited_bin", None
        if not re.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+07:00", parsed["booked_at"]
        ):
            return 422, "malformed", "booked_at", None
        masked = parsed["payer_account_masked"]
        if masked is not None and (not re.fullmatch(r"[A-Za-z0-9*]{1,34}", masked) or "*" not in masked):
            return 422, "malformed", "payer_account_masked", None
        if len(parsed["narrative"]) > 500 or re.search(r"[\x00-\x1f\x7f]", parsed["narrative"]):
            return 422, "malformed", "narrative", None
        return 200, "ok", None, parsed

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        if request.match_info["bank_code"] != BANK_CODE:
            self.received.append(Received(headers, body, "unknown_bank", 404))
            return self._answer(404, "rejected", None, "unknown_bank", None)
        http, verdict, fld, parsed = self._check(request, body)
        if http != 200:
            self.received.append(Received(headers, body, verdict, http))
            return self._answer(http, "rejected", None, verdict, fld)
        if self.fail_first > 0:
            self.fail_first -= 1
            self.received.append(Received(headers, body, "unavailable", 503))
            return web.Response(status=503, text='{"status":"retry"}', content_type="application/json")
        txn = parsed["bank_txn_id"]
        status = "duplicate" if txn in self.accepted else "accepted"
        self.accepted.setdefault(txn, body)
        self.received.append(Received(headers, body, status, 200))
        return self._answer(200, status, txn, None, None)

    async def public_key(self, request: web.Request) -> web.Response:
        self.key_fetches += 1
        if not self.key_published:
            return web.json_response({"status": 404}, status=404)
        raw = self.city_public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = self.city_public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        return web.json_response(
            {
                "key_id": CITY_KEY_ID,
                "algorithm": "Ed25519",
                "public_key": base64.b64encode(raw).decode(),
                "public_key_pem": pem,
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/bank-callbacks/{bank_code}", self.callback)
        app.router.add_get("/api/v1/receipts/public-key", self.public_key)
        return app


@pytest.fixture
def bank_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def citypay(aiohttp_server, bank_key) -> tuple[FakeCitypay, str]:
    fake = FakeCitypay(bank_key)
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def sim_config(citypay, bank_key) -> BankSimConfig:
    fake, url = citypay
    return BankSimConfig(
        signing_key=bank_key,
        signing_key_id=BANK_KEY_ID,
        citypay_url=url,
        bank_code=BANK_CODE,
        city_public_keys={CITY_KEY_ID: fake.city_public_key},
        retry_base_s=0.05,
        retry_max_s=0.2,
        max_attempts=6,
        delivery_timeout_s=5,
        poll_interval_s=0.05,
    )


@pytest.fixture
async def make_sim(banksim_db, sim_config, aiohttp_client):
    # aiohttp_client last: fixtures tear down in reverse, so the app stops before its database is dropped.
    async def make(**overrides):
        return await aiohttp_client(
            create_banksim_app(database_url=banksim_db, config=replace(sim_config, **overrides))
        )

    return make


@pytest.fixture
async def sim(make_sim):
    return await make_sim()


async def wait_for(predicate, within: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + within
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


async def delivery(sim, delivery_id: int) -> dict:
    resp = await sim.get(f"/sim/api/deliveries/{delivery_id}")
    assert resp.status == 200
    return await resp.json()


async def wait_delivery(sim, delivery_id: int, *states: str, within: float = 5.0) -> dict:
    async def reached():
        d = await delivery(sim, delivery_id)
        return d if d["state"] in states else None

    return await wait_for(reached, within)


async def pay(sim, payload: str | None = None, **fields) -> dict:
    resp = await sim.post("/sim/api/payments", json={"payload": payload or vietqr(), **fields})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def balances(sim) -> dict[str, int]:
    resp = await sim.get("/sim/api/accounts")
    return {a["account"]: a["balance"] for a in (await resp.json())["accounts"]}
