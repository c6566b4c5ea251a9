"""Bank callback signatures with real keys: citypay-bank-v1 (Ed25519, RSA-PSS), VNPay IPN and payOS webhooks,
checked against published vectors and against docs/bank-protocol.md's worked example.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import LOCAL_TZ
from core.pii import mask_account
from payments.banks import citypay_v1, payos, vnpay
from payments.banks.citypay_v1 import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    CallbackAnswer,
    load_bank_public_key,
    parse_v1_body,
    sign_answer,
    sign_v1,
    sign_v1_headers,
    verify_answer,
    verify_v1,
)
from payments.banks.event import SIGNATURE_REASONS, CallbackRejected

DOC = Path(__file__).resolve().parents[2] / "docs" / "bank-protocol.md"
NOW = datetime(2026, 1, 5, 2, 30, 12, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
BODY_FIELDS = {
    "bank_txn_id": "FT26005A1B2C3",
    "credited_bin": "970436",
    "credited_account": "0011001234567",
    "amount": 25000,
    "currency": "VND",
    "booked_at": "2026-01-05T09:30:05+07:00",
    "narrative": "CP7K2M9QX4 thanh toan phi gui xe",
    "payer_name": "NGUYỄN VĂN A",
    "payer_account_masked": "1903****6789",
}
BODY = json.dumps(BODY_FIELDS, ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Ed25519PrivateKey | rsa.RSAPrivateKey]:
    return {
        "a-ed-2026a": Ed25519PrivateKey.generate(),
        "a-rsa-2026b": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "b-ed-2026a": Ed25519PrivateKey.generate(),  # another bank's key
    }


@pytest.fixture(scope="module")
def bank_a(keys) -> dict[str, object]:
    """Bank A's two active public keys, the map verify_v1 gets for a callback to /bank-callbacks/bank-a."""
    return {kid: keys[kid].public_key() for kid in ("a-ed-2026a", "a-rsa-2026b")}


def _headers(key, key_id: str, body: bytes = BODY, timestamp: str = TS) -> dict[str, str]:
    signature = sign_v1(key, timestamp, body)
    return {HEADER_TIMESTAMP: timestamp, HEADER_KEY_ID: key_id, HEADER_SIGNATURE: signature}


def _reason(call) -> str:
    with pytest.raises(CallbackRejected) as caught:
        call()
    return caught.value.reason


# --- citypay-bank-v1 signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("key_id", ["a-ed-2026a", "a-rsa-2026b"])
def test_signed_callback_verifies_and_parses(keys, bank_a, key_id):
    headers = sign_v1_headers(keys[key_id], key_id, BODY, now=NOW)
    assert headers[HEADER_TIMESTAMP] == TS
    verify_v1(bank_a, headers, BODY, NOW)
    credit = parse_v1_body(BODY, bank_code="bank-a")
    assert (credit.bank_txn_id, credit.amount, credit.currency) == ("FT26005A1B2C3", 25000, "VND")
    assert (credit.credited_bin, credit.credited_account) == ("970436", "0011001234567")
    assert credit.booked_at == datetime(2026, 1, 5, 2, 30, 5, tzinfo=UTC)
    assert credit.payer_name == "NGUYỄN VĂN A"


def test_signed_message_is_timestamp_dot_raw_body():
    assert citypay_v1.signed_message("1767580212", b'{"a":1}') == b'1767580212.{"a":1}'


def test_header_names_are_case_insensitive(keys, bank_a):
    headers = {k.lower(): v for k, v in _headers(keys["a-ed-2026a"], "a-ed-2026a").items()}
    verify_v1(bank_a, headers, BODY, NOW)


@pytest.mark.parametrize("key_id", ["a-ed-2026a", "a-rsa-2026b"])
def test_tampered_body_is_a_bad_signature(keys, bank_a, key_id):
    headers = _headers(keys[key_id], key_id)
    tampered = BODY.replace(b"25000", b"95000")
    assert _reason(lambda: verify_v1(bank_a, headers, tampered, NOW)) == "bad_signature"


def test_timestamp_is_covered_by_the_signature(keys, bank_a):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a") | {HEADER_TIMESTAMP: str(int(TS) + 1)}
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "bad_signature"


def test_unknown_key_id(keys, bank_a):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2099z")
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "unknown_key"


def test_key_of_another_bank(keys, bank_a):
    # Bank B's own key id is unknown among bank A's keys…
    headers = _headers(keys["b-ed-2026a"], "b-ed-2026a")
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "unknown_key"
    # …and bank B's key cannot pass for one of bank A's.
    headers = _headers(keys["b-ed-2026a"], "a-ed-2026a")
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "bad_signature"


def test_signature_with_the_other_algorithms_key_fails(keys, bank_a):
    headers = _headers(keys["a-rsa-2026b"], "a-ed-2026a")
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "bad_signature"


@pytest.mark.parametrize(("offset", "accepted"), [(-301, False), (-300, True), (300, True), (301, False)])
def test_timestamp_window_is_300_seconds_both_ways(keys, bank_a, offset, accepted):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a", timestamp=str(int(TS) + offset))
    if accepted:
        verify_v1(bank_a, headers, BODY, NOW)
    else:
        assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "stale_timestamp"


@pytest.mark.parametrize(
    "timestamp",
    ["", "abc", "+1767580212", " 1767580212", "1767580212.0", "-1", "1_767_580_212", "١٧٦٧٥٨٠٢١٢"],
)
def test_non_numeric_timestamp(keys, bank_a, timestamp):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a") | {HEADER_TIMESTAMP: timestamp}
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "malformed_timestamp"


@pytest.mark.parametrize("signature", ["", "%%%%", "abc", "AAAA=", "ÿÿÿÿ", "A" * 2000, "QUJD\nREVG"])
def test_signature_that_is_not_canonical_base64(keys, bank_a, signature):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a") | {HEADER_SIGNATURE: signature}
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "malformed_signature"


def test_well_formed_signature_of_the_wrong_length(keys, bank_a):
    wrong_length = base64.b64encode(b"\0" * 63).decode()
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a") | {HEADER_SIGNATURE: wrong_length}
    assert _reason(lambda: verify_v1(bank_a, headers, BODY, NOW)) == "bad_signature"


@pytest.mark.parametrize("header", [HEADER_TIMESTAMP, HEADER_KEY_ID, HEADER_SIGNATURE])
def test_missing_or_repeated_header(keys, bank_a, header):
    headers = _headers(keys["a-ed-2026a"], "a-ed-2026a")
    missing = {k: v for k, v in headers.items() if k != header}
    assert _reason(lambda: verify_v1(bank_a, missing, BODY, NOW)) == "missing_header"
    repeated = headers | {header.lower(): headers[header]}
    assert _reason(lambda: verify_v1(bank_a, repeated, BODY, NOW)) == "missing_header"


def test_rotation_with_two_active_keys(keys, bank_a):
    old, new = "a-ed-2026a", "a-rsa-2026b"
    for key_id in (old, new):  # both in flight during the switch; the key id chooses the key
        verify_v1(bank_a, _headers(keys[key_id], key_id), BODY, NOW)
    assert _reason(lambda: verify_v1(bank_a, _headers(keys[old], new), BODY, NOW)) == "bad_signature"
    retired = {new: bank_a[new]}
    assert _reason(lambda: verify_v1(retired, _headers(keys[old], old), BODY, NOW)) == "unknown_key"
    verify_v1(retired, _headers(keys[new], new), BODY, NOW)


def test_rsa_pss_salt_length_is_fixed_at_32(keys, bank_a):
    message = citypay_v1.signed_message(TS, BODY)
    for salt_length, ok in ((32, True), (padding.PSS.DIGEST_LENGTH, True), (padding.PSS.MAX_LENGTH, False)):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)
        signature = base64.b64encode(keys["a-rsa-2026b"].sign(message, pss, hashes.SHA256())).decode()
        headers = {HEADER_TIMESTAMP: TS, HEADER_KEY_ID: "a-rsa-2026b", HEADER_SIGNATURE: signature}
        if ok:
            verify_v1(bank_a, headers, BODY, NOW)
        else:
            assert _reason(lambda h=headers: verify_v1(bank_a, h, BODY, NOW)) == "bad_signature"


def test_only_ed25519_and_rsa_2048_to_4096_can_be_registered(keys):
    def pem(public_key) -> bytes:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        return public_key.public_bytes(serialization.Encoding.PEM, spki)

    for key_id in ("a-ed-2026a", "a-rsa-2026b"):
        assert load_bank_public_key(pem(keys[key_id].public_key())) == keys[key_id].public_key()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - on purpose
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    for public_key in (weak, p256):
        with pytest.raises(ValueError):
            load_bank_public_key(pem(public_key))


@pytest.mark.parametrize("key_id", ["a-ed-2026a", "a-rsa-2026b"])
@settings(max_examples=150, deadline=None)
@given(body=st.binary(min_size=1, max_size=400), data=st.data())
def test_any_single_byte_change_of_the_body_fails(keys, bank_a, key_id, body, data):
    headers = _headers(keys[key_id], key_id, body=body)
    verify_v1(bank_a, headers, body, NOW)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
    changed = body[:index] + bytes([byte]) + body[index + 1 :]
    assert _reason(lambda: verify_v1(bank_a, headers, changed, NOW)) == "bad_signature"


# --- citypay-bank-v1 body ---------------------------------------------------------------------------------


def _with(**changes) -> bytes:
    fields = {k: v for k, v in (BODY_FIELDS | changes).items() if v is not ...}
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with(fee=0), "fee"),
        (_with(amount=25000.0), "amount"),
        (_with(amount="25000"), "amount"),
        (_with(amount=True), "amount"),
        (_with(amount=0), "amount"),
        (_with(amount=-25000), "amount"),
        (_with(amount=10**13), "amount"),
        (BODY.replace(b"25000", b"2.5e4"), "amount"),
        (_with(currency="USD"), "currency"),
        (_with(currency=...), "currency"),
        (_with(narrative=...), "narrative"),
        (_with(narrative="a\nb"), "narrative"),
        (_with(booked_at="2026-01-05T09:30:05"), "booked_at"),
        (_with(booked_at="2026-01-05 09:30:05+07:00"), "booked_at"),
        (_with(booked_at="2026-01-05t09:30:05z"), "booked_at"),
        (_with(booked_at="2026-02-30T09:30:05+07:00"), "booked_at"),
        (_with(credited_bin="97043"), "credited_bin"),
        (_with(credited_account="0011-001"), "credited_account"),
        (_with(bank_txn_id="FT 1"), "bank_txn_id"),
        (_with(bank_txn_id=""), "bank_txn_id"),
        (_with(payer_account_masked="19031234566789"), "payer_account_masked"),
        (_with(payer_name=7), "payer_name"),
    ],
)
def test_body_deviations_are_malformed(body, field):
    with pytest.raises(CallbackRejected) as caught:
        parse_v1_body(body, bank_code="bank-a")
    assert (caught.value.reason, caught.value.field) == ("malformed", field)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"not json",
        BODY[:-1] + b',"amount":1}',  # duplicate key
        BODY.replace(b"25000", b"NaN"),
        b"\xef\xbb\xbf" + BODY,  # byte-order mark
        BODY.decode().encode("utf-16"),
        b'{"narrative":"\xff"}',
    ],
)
def test_body_that_is_not_one_utf8_json_object(body):
    with pytest.raises(CallbackRejected) as caught:
        parse_v1_body(body, bank_code="bank-a")
    assert caught.value.reason == "malformed_json"


def test_optional_payer_fields_may_be_absent_null_or_empty():
    absent = _with(payer_name=..., payer_account_masked=...)
    for body in (absent, _with(payer_name="", payer_account_masked=None)):
        credit = parse_v1_body(body, bank_code="bank-a")
        assert (credit.payer_name, credit.payer_account_masked) == (None, None)


# --- our signed answer ------------------------------------------------------------------------------------


def test_answer_round_trip_and_tamper():
    city = Ed25519PrivateKey.generate()
    city_keys = {"city-2026a": city.public_key()}
    for answer in (
        CallbackAnswer("accepted", "FT26005A1B2C3"),
        CallbackAnswer("duplicate", "FT26005A1B2C3"),
        CallbackAnswer("rejected", reason="malformed", field="amount"),
    ):
        headers, body = sign_answer(city, "city-2026a", answer, now=NOW)
        assert verify_answer(city_keys, headers, body, NOW + timedelta(seconds=2)) == answer
        forged = body.replace(b'"status":"rejected"', b'"status":"accepted"').replace(b"null", b'"X"', 1)
        assert _reason(lambda h=headers, b=forged: verify_answer(city_keys, h, b, NOW)) == "bad_signature"
    impostor_headers, body = sign_answer(Ed25519PrivateKey.generate(), "city-2026a", answer, now=NOW)
    assert _reason(lambda: verify_answer(city_keys, impostor_headers, body, NOW)) == "bad_signature"


def test_answer_shape_and_http_status():
    assert CallbackAnswer("accepted", "T1").http_status == 200
    assert CallbackAnswer("duplicate", "T1").http_status == 200
    assert {CallbackAnswer("rejected", reason=r).http_status for r in SIGNATURE_REASONS} == {401}
    assert CallbackAnswer("rejected", reason="malformed_json").http_status == 400
    assert CallbackAnswer("rejected", reason="malformed", field="amount").http_status == 422
    for bad in (
        lambda: CallbackAnswer("accepted"),
        lambda: CallbackAnswer("rejected", "T1", reason="malformed"),
        lambda: CallbackAnswer("rejected"),
        lambda: CallbackAnswer("accepted", "T1", reason="malformed"),
        lambda: CallbackAnswer("ok", "T1"),
    ):
        with pytest.raises(ValueError):
            bad()


# --- the documented worked example ------------------------------------------------------------------------


def _doc_block(text: str, name: str) -> str:
    found = re.search(rf"<!-- example:{name} -->\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert found, f"example block {name!r} missing from {DOC.name}"
    return found.group(1)


def _doc_value(block: str, label: str) -> str:
    found = re.search(rf"^{re.escape(label)}:\s+(\S+)$", block, re.MULTILINE)
    assert found, label
    return found.group(1)


def _http_headers(lines: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in lines.splitlines()[1:])


def test_documented_worked_example_recomputes():
    text = DOC.read_text(encoding="utf-8")
    bank_block, city_block = _doc_block(text, "bank-key"), _doc_block(text, "city-key")
    seed = "private key seed (hex)"
    bank = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_doc_value(bank_block, seed)))
    city = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_doc_value(city_block, seed)))
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert bank.public_key().public_bytes(*raw).hex() == _doc_value(bank_block, "public key (hex)")
    assert city.public_key().public_bytes(*raw).hex() == _doc_value(city_block, "public key (hex)")
    registered = load_bank_public_key(_doc_block(text, "bank-public-pem").encode())
    assert registered.public_bytes(*raw) == bank.public_key().public_bytes(*raw)

    body = _doc_block(text, "request-body").encode("utf-8")
    headers = _http_headers(_doc_block(text, "request-headers"))
    assert f"exactly the {len(body)} bytes" in text and headers["Content-Length"] == str(len(body))
    key_id = _doc_value(bank_block, "key id")
    assert headers[HEADER_KEY_ID] == key_id
    assert sign_v1(bank, headers[HEADER_TIMESTAMP], body) == headers[HEADER_SIGNATURE]
    signed_at = datetime.fromtimestamp(int(headers[HEADER_TIMESTAMP]), UTC)
    verify_v1({key_id: registered}, headers, body, signed_at)
    credit = parse_v1_body(body, bank_code="demo-bank")
    readable = re.search(r"## 7\. Request body.*?```json\n(.*?)\n```", text, re.DOTALL)
    assert readable and json.loads(readable.group(1)) == json.loads(body)

    answer_head, answer_body = _doc_block(text, "answer").split("\n\n")
    answer_headers = _http_headers(answer_head)
    answered_at = datetime.fromtimestamp(int(answer_headers[HEADER_TIMESTAMP]), UTC)
    city_id = _doc_value(city_block, "key id")
    expected = sign_answer(city, city_id, CallbackAnswer("accepted", credit.bank_txn_id), now=answered_at)
    assert expected == ({k: answer_headers[k] for k in expected[0]}, answer_body.encode())
    verify_answer({city_id: city.public_key()}, answer_headers, answer_body.encode(), answered_at)


# --- VNPay ------------------------------------------------------------------------------------------------

# Published vector: tests of the `vnpay` npm library (github.com/lehuygiang28/vnpay,
# test/verify-ipn-call.test.ts), secure secret "test_secret"; the hashes come from that library, not from us.
VNPAY_SECRET = b"test_secret"
VNPAY_IPN = {
    "vnp_Amount": "1000000",
    "vnp_BankCode": "NCB",
    "vnp_BankTranNo": "VNP14422574",
    "vnp_CardType": "ATM",
    "vnp_OrderInfo": "Thanh toan don hang 2024-05-21T02:17:31.249Z",
    "vnp_PayDate": "20240521091806",
    "vnp_ResponseCode": "00",
    "vnp_TmnCode": "TEST_TMN_CODE",
    "vnp_TransactionNo": "14422574",
    "vnp_TransactionStatus": "00",
    "vnp_TxnRef": "1716257871703",
    "vnp_SecureHash": "649982421beb422556a1374713c74e58e716ecbd05007c0c0e1f7effdfaf361d"
    "bf146889ca446139afe11b9954c4d5c486e99e3b86fcfab6957f29eb0be72895",
}
VNPAY_FAILED_HASH = (
    "503194f6d93b57b357b2d1d09742565e67e86d771352c5dca4fc8d39df3d392c"
    "6b3809add9405f97cfb9631f445e36c80656cfbf47eac67d97fa165865c13e1b"
)
VNPAY_PROFILE = {
    "bank_code": "vnpay",
    "tmn_code": "TEST_TMN_CODE",
    "credited_bin": "970436",
    "credited_account": "1",
}


def test_vnpay_published_vectors_verify():
    assert vnpay.vnpay_hash_data(VNPAY_IPN).startswith("vnp_Amount=1000000&vnp_BankCode=NCB&")
    order_info = "&vnp_OrderInfo=Thanh+toan+don+hang+2024-05-21T02%3A17%3A31.249Z&"  # quote_plus, as VNPay
    assert order_info in vnpay.vnpay_hash_data(VNPAY_IPN)
    assert vnpay.vnpay_signature(VNPAY_IPN, VNPAY_SECRET) == VNPAY_IPN["vnp_SecureHash"]
    vnpay.verify_vnpay(VNPAY_IPN, VNPAY_SECRET)
    failed = VNPAY_IPN | {"vnp_ResponseCode": "99", "vnp_SecureHash": VNPAY_FAILED_HASH}
    vnpay.verify_vnpay(failed, VNPAY_SECRET)
    assert _reason(lambda: vnpay.parse_vnpay_ipn(failed, **VNPAY_PROFILE)) == "not_a_credit"


def test_vnpay_hash_ignores_hash_fields_and_foreign_parameters():
    noisy = VNPAY_IPN | {"vnp_SecureHashType": "HmacSHA512", "utm_source": "x"}
    vnpay.verify_vnpay(noisy, VNPAY_SECRET)
    vnpay.verify_vnpay(VNPAY_IPN | {"vnp_SecureHash": VNPAY_IPN["vnp_SecureHash"].upper()}, VNPAY_SECRET)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"vnp_Amount": "100000000"}, "bad_signature"),
        ({"vnp_TxnRef": "1716257871704"}, "bad_signature"),
        ({"vnp_Extra": ""}, "bad_signature"),  # an added vnp_ parameter is covered too
        ({"vnp_SecureHash": VNPAY_FAILED_HASH}, "bad_signature"),
        ({"vnp_SecureHash": "00" * 63}, "malformed_signature"),
        ({"vnp_SecureHash": ""}, "malformed_signature"),
    ],
)
def test_vnpay_tampering_is_rejected(change, reason):
    assert _reason(lambda: vnpay.verify_vnpay(VNPAY_IPN | change, VNPAY_SECRET)) == reason
    assert _reason(lambda: vnpay.verify_vnpay(VNPAY_IPN, b"other_secret")) == "bad_signature"


@given(
    params=st.dictionaries(st.text(max_size=12).map(lambda k: "vnp_" + k), st.text(max_size=40), max_size=8),
    secret=st.binary(min_size=1, max_size=64),
)
def test_vnpay_round_trip(params, secret):
    params = {k: v for k, v in params.items() if k not in vnpay.HASH_FIELDS}
    signed = params | {"vnp_SecureHash": vnpay.vnpay_signature(params, secret)}
    vnpay.verify_vnpay(signed, secret)


def test_vnpay_ipn_becomes_a_credit_in_dong():
    credit = vnpay.parse_vnpay_ipn(VNPAY_IPN, **VNPAY_PROFILE)
    assert (credit.amount, credit.bank_txn_id, credit.narrative) == (10000, "14422574", "1716257871703")
    assert credit.booked_at == datetime(2024, 5, 21, 9, 18, 6, tzinfo=LOCAL_TZ)
    assert credit.booked_at == datetime(2024, 5, 21, 2, 18, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"vnp_Amount": "1000050"}, "malformed", "vnp_Amount"),  # not a whole number of đồng
        ({"vnp_Amount": "-1000000"}, "malformed", "vnp_Amount"),
        ({"vnp_PayDate": "20240231091806"}, "malformed", "vnp_PayDate"),
        ({"vnp_TmnCode": "OTHER"}, "malformed", "vnp_TmnCode"),
        ({"vnp_TransactionStatus": "01"}, "not_a_credit", "vnp_ResponseCode"),
        ({"vnp_ResponseCode": "24"}, "not_a_credit", "vnp_ResponseCode"),
        ({"vnp_TransactionNo": "0"}, "malformed", "vnp_TransactionNo"),
    ],
)
def test_vnpay_ipn_that_is_not_a_whole_credit(change, reason, field):
    with pytest.raises(CallbackRejected) as caught:
        vnpay.parse_vnpay_ipn(VNPAY_IPN | change, **VNPAY_PROFILE)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_vnpay_ipn_answers_as_vnpay_defines_them():
    answers = {code.value: vnpay.vnpay_ipn_answer(code) for code in vnpay.VnpayRspCode}
    assert answers["00"] == {"RspCode": "00", "Message": "Confirm Success"}
    assert answers["01"] == {"RspCode": "01", "Message": "Order not found"}
    assert answers["02"] == {"RspCode": "02", "Message": "Order already confirmed"}
    assert answers["04"] == {"RspCode": "04", "Message": "invalid amount"}
    assert answers["97"] == {"RspCode": "97", "Message": "Invalid signature"}
    assert answers["99"] == {"RspCode": "99", "Message": "Unknow error"}


# --- payOS ------------------------------------------------------------------------------------------------

# Published vector: payOS documentation, "Kiểm tra dữ liệu với signature"
# (https://payos.vn/docs/tich-hop-webhook/kiem-tra-du-lieu-voi-signature), sample webhook and checksum key.
PAYOS_KEY = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
PAYOS_WEBHOOK = {
    "code": "00",
    "desc": "success",
    "success": True,
    "data": {
        "orderCode": 123,
        "amount": 3000,
        "description": "VQRIO123",
        "accountNumber": "12345678",
        "reference": "TF230204212323",
        "transactionDateTime": "2023-02-04 18:25:00",
        "currency": "VND",
        "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18",
        "code": "00",
        "desc": "Thành công",
        "counterAccountBankId": "",
        "counterAccountBankName": "",
        "counterAccountName": "",
        "counterAccountNumber": "",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    },
    "signature": "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03",
}


def _payos_body(**data_changes) -> dict:
    data = PAYOS_WEBHOOK["data"] | data_changes
    return PAYOS_WEBHOOK | {"data": data, "signature": payos.payos_signature(data, PAYOS_KEY)}


def test_payos_published_example_verifies():
    assert payos.payos_data_string(PAYOS_WEBHOOK["data"]) == (
        "accountNumber=12345678&amount=3000&code=00&counterAccountBankId=&counterAccountBankName="
        "&counterAccountName=&counterAccountNumber=&currency=VND&desc=Thành công&description=VQRIO123"
        "&orderCode=123&paymentLinkId=124c33293c43417ab7879e14c8d9eb18&reference=TF230204212323"
        "&transactionDateTime=2023-02-04 18:25:00&virtualAccountName=&virtualAccountNumber="
    )
    payos.verify_payos(PAYOS_WEBHOOK, PAYOS_KEY)


def test_payos_webhook_becomes_a_credit():
    credit = payos.parse_payos_webhook(PAYOS_WEBHOOK, bank_code="payos", credited_bin="970422")
    assert (credit.amount, credit.bank_txn_id, credit.narrative) == (3000, "TF230204212323", "VQRIO123")
    assert (credit.credited_bin, credit.credited_account) == ("970422", "12345678")
    assert credit.booked_at == datetime(2023, 2, 4, 11, 25, tzinfo=UTC)
    assert (credit.payer_name, credit.payer_account_masked) == (None, None)
    named = _payos_body(counterAccountName="NGUYEN VAN A", counterAccountNumber="190312345678")
    credit = payos.parse_payos_webhook(named, bank_code="payos", credited_bin="970422")
    assert (credit.payer_name, credit.payer_account_masked) == ("NGUYEN VAN A", "****5678")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (PAYOS_WEBHOOK | {"data": PAYOS_WEBHOOK["data"] | {"amount": 30000}}, "bad_signature"),
        (PAYOS_WEBHOOK | {"data": PAYOS_WEBHOOK["data"] | {"description": "VQRIO124"}}, "bad_signature"),
        (PAYOS_WEBHOOK | {"code": "01", "desc": "changed outside data"}, None),  # only `data` is signed
        (PAYOS_WEBHOOK | {"signature": "0" * 63}, "malformed_signature"),
        (PAYOS_WEBHOOK | {"signature": None}, "malformed_signature"),
        (PAYOS_WEBHOOK | {"data": "x"}, "malformed"),
        (_payos_body(extra=1) | {"data": PAYOS_WEBHOOK["data"] | {"extra": {"nested": 1}}}, "malformed"),
    ],
)
def test_payos_tampering_is_rejected(body, reason):
    if reason is None:
        payos.verify_payos(body, PAYOS_KEY)
    else:
        assert _reason(lambda: payos.verify_payos(body, PAYOS_KEY)) == reason
    assert _reason(lambda: payos.verify_payos(PAYOS_WEBHOOK, PAYOS_KEY[::-1])) == "bad_signature"


@pytest.mark.parametrize(
    ("data_changes", "reason", "field"),
    [
        ({"code": "01"}, "not_a_credit", "data.code"),
        ({"amount": 0}, "malformed", "data.amount"),
        ({"amount": "3000"}, "malformed", "data.amount"),
        ({"transactionDateTime": "2023-02-04T18:25:00"}, "malformed", "data.transactionDateTime"),
        ({"reference": ""}, "malformed", "data.reference"),
        ({"currency": "USD"}, "malformed", "data.currency"),
    ],
)
def test_payos_webhook_that_is_not_a_whole_credit(data_changes, reason, field):
    with pytest.raises(CallbackRejected) as caught:
        payos.parse_payos_webhook(_payos_body(**data_changes), bank_code="payos", credited_bin="970422")
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_payos_canonical_values():
    data = {"b": None, "a": True, "c": "null", "d": [{"y": None, "x": "é"}], "e": 0, "f": "undefined"}
    assert payos.payos_data_string(data) == 'a=true&b=&c=&d=[{"x":"é","y":null}]&e=0&f='
    for unsupported in ({"a": 1.0}, {"a": {"b": 1}}):
        with pytest.raises(ValueError):
            payos.payos_data_string(unsupported)


def test_payos_library_accepts_our_signatures():
    payos_sdk = pytest.importorskip("payos")
    client = payos_sdk.PayOS(client_id="test", api_key="test", checksum_key=PAYOS_KEY)
    changes = {"amount": 125000, "description": "CP7K2M9QX4", "counterAccountName": "NGUYỄN VĂN A"}
    assert client.webhooks.verify(_payos_body()).amount == 3000
    assert client.webhooks.verify(_payos_body(**changes)).amount == 125000
    tampered = _payos_body() | {"data": PAYOS_WEBHOOK["data"] | {"amount": 1}}
    with pytest.raises(payos_sdk.WebhookError, match="integrity"):
        client.webhooks.verify(tampered)


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**15), 10**15), st.text(max_size=20))


@settings(max_examples=200)
@given(
    data=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(_scalar, st.lists(st.dictionaries(st.text(max_size=6), _scalar, max_size=3), max_size=3)),
        max_size=8,
    ),
    key=st.text(min_size=1, max_size=64),
)
def test_payos_signature_equals_the_payos_library(data, key):
    crypto = pytest.importorskip("payos._crypto")
    assert payos.payos_signature(data, key) == crypto.CryptoProvider().create_signature_from_object(data, key)


def test_mask_account_keeps_at_most_the_last_four():
    assert mask_account("190312345678") == "****5678"
    assert mask_account("1234567") == "****"
    assert mask_account("1903****5678") == "1903****5678"
    assert mask_account("") is None
