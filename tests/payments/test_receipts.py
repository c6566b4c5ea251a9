"""Receipts: signed with the city's key; a flipped byte fails verification."""

from __future__ import annotations

from core.keys import AppKeys
from payments.receipts import b64url, b64url_decode, sign_receipt, verify_receipt_signature


def test_sign_and_verify(keys):
    text, sig = sign_receipt(keys, {"receipt_id": "r1", "amount_paid": 200_000})
    assert verify_receipt_signature(keys.signing_public_key, text, sig)


def test_any_flipped_byte_fails(keys):
    text, sig = sign_receipt(keys, {"receipt_id": "r1", "amount_paid": 200_000, "reference": "CPABC"})
    raw = text.encode()
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        assert not verify_receipt_signature(keys.signing_public_key, tampered.decode("latin-1"), sig)
    bad_sig = bytearray(b64url_decode(sig))
    bad_sig[0] ^= 0x01
    assert not verify_receipt_signature(keys.signing_public_key, text, b64url(bytes(bad_sig)))
    assert not verify_receipt_signature(keys.signing_public_key, text, "not base64 !!")


def test_another_key_does_not_verify(keys):
    text, sig = sign_receipt(keys, {"receipt_id": "r1"})
    assert not verify_receipt_signature(AppKeys.generate().signing_public_key, text, sig)
