"""The importer's per-line work on two cores: what a worker process returns is what the importer would have
made itself (the same redacted copy; a ciphertext that decrypts, alone, to the bank's text), in order; and a
worker that dies costs time, not lines."""

from __future__ import annotations

import os

import pytest

from core.keys import AppKeys
from core.pii import decrypt_pii
from payments import redact_narrative
from reconciliation import importer

NARRATIVES = [
    f"CP{'ABCDEFGHJK'[i % 10]}QRSTUVWX{i % 10}Y NGUYEN VAN AN CHUYEN TIEN 0912 345 {i:03d}"
    for i in range(120)
] + ["", "ĐỖ THỊ HOA 001099012345 gửi", "\u202eBIDI 12345678"]


def check(keys: AppKeys, out: list[tuple[str, str]]) -> None:
    assert len(out) == len(NARRATIVES)
    for narrative, (redacted, sealed) in zip(NARRATIVES, out, strict=True):
        assert redacted == redact_narrative(narrative)
        assert decrypt_pii(keys, sealed, context=importer.NARRATIVE_CONTEXT) == narrative
        assert narrative == "" or "345 0" not in redacted  # the phone number is masked


async def test_two_processes_give_what_one_gives(keys: AppKeys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(importer, "PARALLEL_FROM", 10)
    spawned: list[int] = []
    real = importer._worker_context

    def counted():
        spawned.append(1)
        return real()

    monkeypatch.setattr(importer, "_worker_context", counted)
    check(keys, await importer._protect_all(keys, NARRATIVES))
    assert spawned  # the worker path was taken


async def test_below_the_threshold_no_process(keys: AppKeys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(importer, "_worker_context", lambda: pytest.fail("no worker below PARALLEL_FROM"))
    check(keys, await importer._protect_all(keys, NARRATIVES))


def _die(*_args: object) -> list[tuple[str, str]]:
    os._exit(3)


async def test_a_worker_that_dies_leaves_its_part_to_this_process(keys: AppKeys, monkeypatch):
    monkeypatch.setattr(importer, "PARALLEL_FROM", 10)
    monkeypatch.setattr(importer, "_protect_in_worker", _die)
    check(keys, await importer._protect_all(keys, NARRATIVES))
