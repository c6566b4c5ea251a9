"""Ed25519 signing and verification on the hot paths through libsodium (PyNaCl), with the keys kept as
`cryptography` objects everywhere else (loading, storing, rotation, the key files).

Why: every bank callback is verified once and answers with two signatures of ours (the signed answer and the
receipt). OpenSSL's Ed25519, which `cryptography` wraps, took 91 µs per verification and 28 µs per signature
on the benchmark machine; libsodium takes 43 µs and 18 µs (`bench/ed25519.py`), which is a tenth of a
callback's server CPU. Signatures are the same bytes (Ed25519 is deterministic); libsodium's verification is
the stricter of the two (it refuses non-canonical signatures and small-order keys, which no honest signer
makes), so nothing OpenSSL refused is accepted.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# libsodium's secret key (seed and public key, 64 bytes) per key seed: deriving it is a scalar
# multiplication, as costly as a signature. Keys are few (the city's signing keys), so the map stays small.
_SECRET_KEYS: dict[bytes, bytes] = {}
_MAX_KEYS = 64


def sign(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte signature `private_key.sign(message)` gives."""
    seed = private_key.private_bytes_raw()
    secret = _SECRET_KEYS.get(seed)
    if secret is None:
        _, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        if len(_SECRET_KEYS) >= _MAX_KEYS:
            _SECRET_KEYS.clear()
        _SECRET_KEYS[seed] = secret
    return nacl.bindings.crypto_sign(message, secret)[: nacl.bindings.crypto_sign_BYTES]


def verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """As `public_key.verify(signature, message)`: raises cryptography's InvalidSignature when it does not
    hold (a signature of the wrong length included)."""
    if len(signature) != nacl.bindings.crypto_sign_BYTES:
        raise InvalidSignature
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key.public_bytes_raw())
    except nacl.exceptions.BadSignatureError:
        raise InvalidSignature from None


def is_usable_public_key(public_key: Ed25519PublicKey) -> bool:
    """A point a signer could hold: canonical, on the curve and in its prime-order group. A small-order point
    (the identity, all zeros, …) lets anyone make signatures that lax verifiers accept; libsodium refuses
    every signature under such a key, so a bank registering one could never be heard."""
    return bool(nacl.bindings.crypto_core_ed25519_is_valid_point(public_key.public_bytes_raw()))
