"""The service's secrets: PII encryption keys, the lookup-hash key, the city's Ed25519 signing key and the
audit-chain key (HMAC; the database never holds it, so rows rewritten in SQL cannot be re-chained).

Embedded mode generates them into var/keys.json on first run; with DATABASE_URL set they must come from the
environment and the service refuses to start without them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENV_PII_KEYS = "CITYPAY_PII_KEYS"
ENV_LOOKUP_KEY = "CITYPAY_LOOKUP_KEY"
ENV_SIGNING_KEY = "CITYPAY_SIGNING_KEY"
ENV_AUDIT_KEY = "CITYPAY_AUDIT_KEY"
REQUIRED_ENV = (ENV_PII_KEYS, ENV_LOOKUP_KEY, ENV_SIGNING_KEY, ENV_AUDIT_KEY)


class MissingKeys(SystemExit):
    pass


@dataclass(frozen=True)
class AppKeys:
    pii_keys: dict[str, bytes]  # key id → 32-byte AES-256-GCM key
    pii_active: str  # key id new ciphertexts use; older ids stay readable
    lookup_key: bytes  # HMAC-SHA256 key for searchable hashes of personal data
    signing_key: Ed25519PrivateKey  # signs receipts, our answers to banks and audit checkpoints
    # HMAC-SHA256 key of the audit chain. Keys built without one get a fresh random key (never an empty or
    # known one): rows they write simply do not verify under the deployment's key.
    audit_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def signing_public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def signing_public_b64(self) -> str:
        raw = self.signing_public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"AppKeys(pii_active={self.pii_active!r}, pii_ids={sorted(self.pii_keys)})"

    @classmethod
    def generate(cls) -> AppKeys:
        kid = "k" + secrets.token_hex(3)
        return cls(
            {kid: secrets.token_bytes(32)},
            kid,
            secrets.token_bytes(32),
            Ed25519PrivateKey.generate(),
            secrets.token_bytes(32),
        )


def _b64(value: str, name: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise MissingKeys(f"{name} is not valid base64") from None
    if len(raw) != size:
        raise MissingKeys(f"{name} must decode to {size} bytes, got {len(raw)}")
    return raw


def parse_env_keys(env: dict[str, str]) -> AppKeys:
    missing = [n for n in REQUIRED_ENV if not env.get(n)]
    if missing:
        raise MissingKeys(
            "refusing to start: with DATABASE_URL set, keys come from the environment and these are missing: "
            + ", ".join(missing)
            + ". Generate a set with `python main.py gen-keys`."
        )
    pii: dict[str, bytes] = {}
    order = []
    for item in env[ENV_PII_KEYS].split(","):
        kid, sep, value = item.strip().partition(":")
        if not sep or not kid.isalnum():
            raise MissingKeys(f"{ENV_PII_KEYS} is a comma list of id:base64key, newest first")
        pii[kid] = _b64(value, f"{ENV_PII_KEYS}[{kid}]", 32)
        order.append(kid)
    signing = Ed25519PrivateKey.from_private_bytes(_b64(env[ENV_SIGNING_KEY], ENV_SIGNING_KEY, 32))
    return AppKeys(
        pii,
        order[0],
        _b64(env[ENV_LOOKUP_KEY], ENV_LOOKUP_KEY, 32),
        signing,
        _b64(env[ENV_AUDIT_KEY], ENV_AUDIT_KEY, 32),
    )


def keys_as_env(keys: AppKeys) -> dict[str, str]:
    raw = keys.signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    ordered = [keys.pii_active] + [k for k in keys.pii_keys if k != keys.pii_active]
    return {
        ENV_PII_KEYS: ",".join(f"{k}:{base64.b64encode(keys.pii_keys[k]).decode()}" for k in ordered),
        ENV_LOOKUP_KEY: base64.b64encode(keys.lookup_key).decode(),
        ENV_SIGNING_KEY: base64.b64encode(raw).decode(),
        ENV_AUDIT_KEY: base64.b64encode(keys.audit_key).decode(),
    }


def load_keys(*, embedded: bool, var_dir: Path, env: dict[str, str] | None = None) -> AppKeys:
    env = dict(os.environ if env is None else env)
    if not embedded or env.get(ENV_PII_KEYS):
        return parse_env_keys(env)
    path = var_dir / "keys.json"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys_as_env(AppKeys.generate()), fh, indent=1)
    stored = json.loads(path.read_text())
    if not stored.get(ENV_AUDIT_KEY):  # var/keys.json from before the keyed audit chain: add its key once
        stored = _add_audit_key(path)
    return parse_env_keys(stored)


def _add_audit_key(path: Path) -> dict[str, str]:
    """Under an exclusive lock (two processes upgrading at once must end with one key): re-read, add, swap."""
    import fcntl

    with open(path.with_name("keys.json.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = json.loads(path.read_text())
        if not stored.get(ENV_AUDIT_KEY):
            stored[ENV_AUDIT_KEY] = base64.b64encode(secrets.token_bytes(32)).decode()
            tmp = path.with_name("keys.json.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(stored, fh, indent=1)
            os.replace(tmp, path)
    return stored
