"""Personal data: encryption at rest with key rotation, lookup hashes, masking, and logs that hide it."""

from __future__ import annotations

import json

import pytest
import structlog

from core.keys import AppKeys, MissingKeys, keys_as_env, load_keys, parse_env_keys
from core.logging import configure_logging
from core.pii import (
    PIIError,
    decrypt_pii,
    encrypt_pii,
    lookup_hash,
    mask_account,
    mask_citizen_id,
    mask_text,
)


def test_encrypt_round_trip_and_context_binding(keys):
    stored = encrypt_pii(keys, "001234567789", context="beneficiary.cccd")
    assert "001234567789" not in stored and stored.startswith(keys.pii_active + ":")
    assert decrypt_pii(keys, stored, context="beneficiary.cccd") == "001234567789"
    with pytest.raises(PIIError):
        decrypt_pii(keys, stored, context="beneficiary.account")


def test_tampered_ciphertext_fails(keys):
    stored = encrypt_pii(keys, "0011001234567", context="c")
    kid, blob = stored.split(":")
    flipped = blob[:-3] + ("A" if blob[-3] != "A" else "B") + blob[-2:]
    with pytest.raises(PIIError):
        decrypt_pii(keys, f"{kid}:{flipped}", context="c")


def test_rotation_keeps_old_ciphertexts_readable():
    old = AppKeys.generate()
    old_stored = encrypt_pii(old, "secret", context="c")
    new = AppKeys.generate()
    rotated = AppKeys({**new.pii_keys, **old.pii_keys}, new.pii_active, old.lookup_key, old.signing_key)
    assert decrypt_pii(rotated, old_stored, context="c") == "secret"
    assert encrypt_pii(rotated, "x", context="c").startswith(new.pii_active + ":")


def test_lookup_hash_is_keyed_and_normalised(keys):
    a = lookup_hash(keys, " 0011001234567 ", context="acct")
    assert a == lookup_hash(keys, "0011001234567", context="acct")
    assert a != lookup_hash(AppKeys.generate(), "0011001234567", context="acct")
    assert a != lookup_hash(keys, "0011001234567", context="cccd")


def test_masks():
    assert mask_citizen_id("001234567789") == "001******789"
    assert mask_account("0011001234567") == "****4567"
    assert mask_account("1234567") == "****"  # a short number shows nothing
    assert mask_text("CCCD 001234567789 TK 0011001234567 ok") == "CCCD 001******789 TK ****4567 ok"
    assert mask_text("amount 250000 on 2026-11-23") == "amount 250000 on 2026-11-23"


def test_log_lines_never_show_citizen_ids_or_accounts(capsys):
    configure_logging("json")
    structlog.get_logger("t").info(
        "payout for 001234567789 to 0011001234567",
        account="9704366614",
        citizen_id="079203001234",
        nested={"note": "acct 1234567890123"},
        reference="CPABCDEFGHJK7",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    text = json.dumps(line)
    for secret in ("001234567789", "0011001234567", "9704366614", "079203001234", "1234567890123"):
        assert secret not in text
    assert line["event"] == "payout for 001******789 to ****4567"
    assert line["account"] == "****6614" and line["citizen_id"] == "079******234"
    assert line["reference"] == "CPABCDEFGHJK7"


def test_embedded_mode_generates_keys_once(tmp_path):
    first = load_keys(embedded=True, var_dir=tmp_path, env={})
    second = load_keys(embedded=True, var_dir=tmp_path, env={})
    assert first.pii_keys == second.pii_keys and first.lookup_key == second.lookup_key
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600


def test_server_mode_refuses_to_start_without_keys(tmp_path):
    with pytest.raises(MissingKeys, match="CITYPAY_PII_KEYS"):
        load_keys(embedded=False, var_dir=tmp_path, env={})
    keys = AppKeys.generate()
    assert parse_env_keys(keys_as_env(keys)).pii_keys == keys.pii_keys


def test_keys_repr_never_shows_secrets(keys):
    env = keys_as_env(keys)
    text = repr(keys) + str(keys)
    assert all(value not in text for value in env.values())
