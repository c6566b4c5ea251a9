"""The simulated bank's signing key for demos and tests, kept in var/ so both processes can find it: the bank
simulator signs callbacks with it, and citypay's demo data registers its public half in the bank profile."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEMO_BANK_CODE = "vcb-sim"
DEMO_BANK_BIN = "970436"
# What the simulated bank's city account holds before its first transfer; the payments demo data books the
# same opening balance, so a reconciled day closes with bank and ledger agreeing.
DEMO_CITY_OPENING_BALANCE = 2_000_000_000
DEMO_CITY_ACCOUNT = "0011001234567"  # the city's collection account at the simulated bank


def ensure_demo_bank_key(var_dir: Path) -> tuple[str, Ed25519PrivateKey]:
    """(key id, private key); generated on first use into var/banksim/signing-key.json (mode 0600)."""
    path = var_dir / "banksim" / "signing-key.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        kid = "sim-" + base64.b32encode(os.urandom(5)).decode().lower()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return ensure_demo_bank_key(var_dir)
        with os.fdopen(fd, "w") as fh:
            json.dump({"key_id": kid, "private_key": base64.b64encode(raw).decode()}, fh)
    data = json.loads(path.read_text())
    return data["key_id"], Ed25519PrivateKey.from_private_bytes(base64.b64decode(data["private_key"]))


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
