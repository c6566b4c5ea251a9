"""The simulator's citypay-bank-v1 code against docs/bank-protocol.md: §11's worked example, §8's checks."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banksim.protocol import check_answer, parse_published_key, sign_callback
from banksim.qr import InvalidQR, read_payload
from tests.banksim.conftest import vietqr

DOC = (Path(__file__).resolve().parents[2] / "docs" / "bank-protocol.md").read_text()


def _block(name: str) -> str:
    m = re.search(rf"<!-- example:{name} -->\n```[a-z]*\n(.*?)```", DOC, re.S)
    assert m, name
    return m.group(1)


def _field(block: str, label: str) -> str:
    return re.search(rf"^{label}:\s+(\S+)$", block, re.M).group(1)


@pytest.fixture(scope="module")
def example():
    bank, city = _block("bank-key"), _block("city-key")
    answer = _block("answer")
    head, _, answer_body = answer.partition("\n\n")
    return {
        "bank_seed": bytes.fromhex(_field(bank, "private key seed \\(hex\\)")),
        "bank_kid": _field(bank, "key id"),
        "city_seed": bytes.fromhex(_field(city, "private key seed \\(hex\\)")),
        "city_kid": _field(city, "key id"),
        "body": _block("request-body").rstrip("\n").encode(),
        "request_headers": dict(
            line.split(": ", 1) for line in _block("request-headers").splitlines()[1:] if ": " in line
        ),
        "answer_headers": dict(line.split(": ", 1) for line in head.splitlines()[1:] if ": " in line),
        "answer_body": answer_body.rstrip("\n").encode(),
    }


def test_signing_reproduces_the_documented_request(example):
    key = Ed25519PrivateKey.from_private_bytes(example["bank_seed"])
    headers = sign_callback(key, example["bank_kid"], example["body"], now=1767580212)
    expected = example["request_headers"]
    assert len(example["body"]) == int(expected["Content-Length"]) == 275
    for name in ("X-Citypay-Timestamp", "X-Citypay-Key-Id", "X-Citypay-Signature", "Content-Type"):
        assert headers[name] == expected[name]


def test_the_documented_answer_is_acknowledged(example):
    city = Ed25519PrivateKey.from_private_bytes(example["city_seed"]).public_key()
    check = check_answer(
        200,
        example["answer_headers"],
        example["answer_body"],
        city_keys={example["city_kid"]: city},
        bank_txn_id="FT26005A1B2C3",
        now=1767580213,
    )
    assert check.acknowledged and check.status == "accepted"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"now": 1767580213 + 301}, "more than 300 s"),
        ({"now": 1767580213 - 301}, "more than 300 s"),
        ({"kid": "city-2025z"}, "not an announced city key"),
        ({"txn": "FT-OTHER"}, "another bank_txn_id"),
        (
            {"body": b'{"bank_txn_id":"FT26005A1B2C3","field":null,"reason":null,"status":"accepted"} '},
            "does not verify",
        ),
        ({"drop": "X-Citypay-Signature"}, "not signed"),
        ({"sig": "x"}, "canonical base64"),
    ],
)
def test_answers_that_fail_any_check_are_not_acknowledged(example, change, problem):
    city = Ed25519PrivateKey.from_private_bytes(example["city_seed"]).public_key()
    headers = dict(example["answer_headers"])
    headers.pop(change.get("drop", ""), None)
    if "sig" in change:
        headers["X-Citypay-Signature"] = change["sig"]
    check = check_answer(
        change.get("status", 200),
        headers,
        change.get("body", example["answer_body"]),
        city_keys={change.get("kid", example["city_kid"]): city},
        bank_txn_id=change.get("txn", "FT26005A1B2C3"),
        now=change.get("now", 1767580213),
    )
    assert not check.acknowledged
    assert problem in check.problem


def test_a_corrupted_signature_is_still_well_formed_base64():
    key = Ed25519PrivateKey.generate()
    good = sign_callback(key, "k", b"{}", now=1)
    bad = sign_callback(key, "k", b"{}", now=1, corrupt=True)
    assert len(bad["X-Citypay-Signature"]) == 88 and bad["X-Citypay-Signature"] != good["X-Citypay-Signature"]
    assert len(base64.b64decode(bad["X-Citypay-Signature"], validate=True)) == 64


def test_the_published_city_key_document_is_read_exactly():
    raw = bytes(range(32))
    doc = {"key_id": "abc123", "algorithm": "Ed25519", "public_key": base64.b64encode(raw).decode()}
    assert list(parse_published_key(doc)) == ["abc123"]
    assert parse_published_key({**doc, "algorithm": "RSA"}) == {}
    assert parse_published_key({**doc, "public_key": "not base64!"}) == {}
    assert parse_published_key({**doc, "key_id": None}) == {}


def test_qr_reading_uses_the_independent_library_and_checks_the_profile():
    qr = read_payload(vietqr(25_000, "CP7K2M9QX4ABC"))
    assert (qr.bin, qr.account, qr.amount, qr.purpose, qr.dynamic) == (
        "970436",
        "0011001234567",
        25_000,
        "CP7K2M9QX4ABC",
        True,
    )
    static = read_payload(vietqr(None, None))
    assert static.amount is None and static.purpose is None and not static.dynamic
    with pytest.raises(InvalidQR):
        read_payload(vietqr()[:-1] + ("0" if vietqr()[-1] != "0" else "1"))


def test_citypays_own_payloads_are_readable_by_the_simulator():
    """Interoperability: what citypay's builder emits, an independent parser accepts."""
    from payments.vietqr import VietQR, build_payload

    payload = build_payload(
        VietQR(bin="970436", account="0011001234567", amount=135_000, purpose="CP0123456789A")
    )
    qr = read_payload(payload)
    assert (qr.bin, qr.account, qr.amount, qr.purpose) == (
        "970436",
        "0011001234567",
        135_000,
        "CP0123456789A",
    )
