"""Personal data at rest: AES-GCM encryption with the key id stored beside the ciphertext, a keyed hash for
lookups, and masking for answers and logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.keys import AppKeys


class PIIError(ValueError):
    pass


def encrypt_bytes(keys: AppKeys, plaintext: bytes, *, context: str) -> str:
    """'kid:base64(nonce‖ciphertext)'. `context` (e.g. 'beneficiary.account') is bound as associated data so a
    ciphertext copied into another column does not decrypt there."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(keys.pii_keys[keys.pii_active]).encrypt(nonce, plaintext, context.encode())
    return f"{keys.pii_active}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt_bytes(keys: AppKeys, stored: str, *, context: str) -> bytes:
    kid, sep, blob = stored.partition(":")
    if not sep or kid not in keys.pii_keys:
        raise PIIError(f"no key {kid!r} to decrypt this value")
    raw = base64.b64decode(blob)
    try:
        return AESGCM(keys.pii_keys[kid]).decrypt(raw[:12], raw[12:], context.encode())
    except Exception as exc:  # InvalidTag: tampered, wrong key or wrong context
        raise PIIError("personal data failed authentication") from exc


def encrypt_pii(keys: AppKeys, plaintext: str, *, context: str) -> str:
    return encrypt_bytes(keys, plaintext.encode(), context=context)


def decrypt_pii(keys: AppKeys, stored: str, *, context: str) -> str:
    return decrypt_bytes(keys, stored, context=context).decode()


def normalise_for_lookup(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip().upper().replace(" ", "")


def lookup_hash(keys: AppKeys, value: str, *, context: str) -> bytes:
    """Deterministic keyed hash so an encrypted column can still be searched by exact value."""
    msg = context.encode() + b"\x00" + normalise_for_lookup(value).encode()
    return hmac.new(keys.lookup_key, msg, hashlib.sha256).digest()


def mask_citizen_id(value: str) -> str:
    """001234567789 → 001******789 (province code and the last three digits stay readable)."""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def mask_account(number: str | None) -> str | None:
    """0011001234567 → ****4567 (SPEC's form): four stars whatever the length, so the mask gives away neither
    the length nor, for a short number, any digit (a number under 8 characters becomes ****).

    The one masking of account numbers (logs, stored payer accounts, the simulated bank's callbacks and
    statements). An already masked value (one with a `*`) is kept; no number (None or "") gives None.
    """
    if not number:
        return None
    if "*" in number:
        return number
    return "****" + (number[-4:] if len(number) >= 8 else "")


_CITIZEN_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
# Account and card numbers: 8–19 digits. A 12-digit run is treated as a citizen id (masked more lightly).
_ACCOUNT = re.compile(r"(?<!\d)\d{8,19}(?!\d)")


def mask_text(text: str) -> str:
    text = _CITIZEN_ID.sub(lambda m: mask_citizen_id(m.group()), text)
    return _ACCOUNT.sub(lambda m: mask_account(m.group()) or "", text)
