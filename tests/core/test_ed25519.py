"""core/ed25519.py against cryptography's own Ed25519: the same signatures, each side verifies the other's,
and every forgery the other refuses is refused."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ed25519

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_signatures_are_the_bytes_cryptography_makes_and_verify_both_ways(message):
    ours = ed25519.sign(KEY, message)
    assert ours == KEY.sign(message)  # Ed25519 is deterministic
    KEY.public_key().verify(ours, message)
    ed25519.verify(KEY.public_key(), KEY.sign(message), message)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_the_message_or_the_signature_is_refused(message, where, flip):
    signature = KEY.sign(message)
    changed = bytearray(message)
    changed[where % len(changed)] ^= flip
    with pytest.raises(InvalidSignature):
        ed25519.verify(KEY.public_key(), signature, bytes(changed))
    forged = bytearray(signature)
    forged[where % len(forged)] ^= flip
    with pytest.raises(InvalidSignature):
        ed25519.verify(KEY.public_key(), bytes(forged), message)


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x00" * 63, b"\x00" * 64, b"\x00" * 65, KEY.sign(b"m") + b"\x00"],
    ids=["empty", "63-zeros", "64-zeros", "65-zeros", "valid-plus-a-byte"],  # stable across xdist workers
)
def test_a_signature_of_the_wrong_length_or_all_zeros_is_refused(signature):
    with pytest.raises(InvalidSignature):
        ed25519.verify(KEY.public_key(), signature, b"m")


def test_another_keys_signature_is_refused_and_each_key_signs_with_its_own():
    with pytest.raises(InvalidSignature):
        ed25519.verify(KEY.public_key(), OTHER.sign(b"m"), b"m")
    assert ed25519.sign(OTHER, b"m") == OTHER.sign(b"m") != ed25519.sign(KEY, b"m")


def test_a_non_canonical_signature_is_refused():
    """S + L (the group order) verifies the same equation in lax verifiers; libsodium refuses it, as RFC 8032
    says a verifier must. Refusing more than OpenSSL is the safe direction."""
    order = 2**252 + 27742317777372353535851937790883648493
    signature = KEY.sign(b"m")
    s = int.from_bytes(signature[32:], "little") + order
    with pytest.raises(InvalidSignature):
        ed25519.verify(KEY.public_key(), signature[:32] + s.to_bytes(32, "little"), b"m")


def test_small_order_keys_are_not_usable_and_a_real_one_is():
    """Under the identity point, R = identity and S = 0 is a "signature" of every message to OpenSSL's
    verifier; libsodium refuses it, and such a key cannot be registered (ed25519.is_usable_public_key)."""
    identity = Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31))
    forged = b"\x01" + bytes(31) + bytes(32)
    with pytest.raises(InvalidSignature):
        ed25519.verify(identity, forged, b"any message")
    assert not ed25519.is_usable_public_key(identity)
    assert not ed25519.is_usable_public_key(Ed25519PublicKey.from_public_bytes(bytes(32)))
    assert ed25519.is_usable_public_key(KEY.public_key())
