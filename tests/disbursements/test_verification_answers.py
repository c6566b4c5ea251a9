"""The name-inquiry answer is read field by field: anything the bank sends that is not a clear answer is
`unknown` (asked again later), never a verdict; and the verdict's rules, pure."""

from __future__ import annotations

import pytest

from disbursements.names import NameMatch
from disbursements.verification import verdict
from payments.banks.citypay_v1 import _name_answer

OPEN = {"bin": "970436", "account": "0011000456789", "status": "open", "reason_code": None}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            200,
            {**OPEN, "name": "NGUYEN VAN AN"},
            {"status": "open", "name": "NGUYEN VAN AN", "id_match": None},
        ),
        (
            200,
            {**OPEN, "name": "NGUYEN VAN AN", "id_match": True},
            {"status": "open", "name": "NGUYEN VAN AN", "id_match": True},
        ),
        (
            200,
            {**OPEN, "status": "closed", "name": None, "reason_code": "AC04"},
            {"status": "closed", "reason_code": "AC04", "id_match": None},
        ),
        (404, {"reason_code": "AC01"}, {"status": "not_found", "reason_code": "AC01"}),
    ],
)
def test_clear_answers(status, body, expected):
    assert _name_answer(status, body) == expected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"detail": "down"}),
        (404, {"detail": "no route"}),  # a 404 that is not the bank's AC01
        (200, None),
        (200, ["open"]),
        (200, {**OPEN, "name": None}),
        (200, {**OPEN, "name": "NGUYEN\u0000VAN"}),
        (200, {**OPEN, "name": "A" * 141}),
        (200, {**OPEN, "name": "NGUYEN VAN AN", "id_match": "yes"}),
        (200, {**OPEN, "status": "frozen"}),
        (302, {**OPEN, "name": "NGUYEN VAN AN"}),
    ],
)
def test_anything_else_is_unknown(status, body):
    assert _name_answer(status, body)["status"] == "unknown"


@pytest.mark.parametrize(
    ("answer", "ours", "state", "match"),
    [
        (
            {"status": "open", "name": "NGUYEN VAN AN", "id_match": None},
            "Nguyễn Văn An",
            "verified",
            NameMatch.EXACT,
        ),
        (
            {"status": "open", "name": "AN NGUYEN VAN", "id_match": None},
            "Nguyễn Văn An",
            "verified",
            NameMatch.REORDERED,
        ),
        (
            {"status": "open", "name": "NGUYEN VAN BINH", "id_match": None},
            "Nguyễn Văn An",
            "mismatch",
            NameMatch.MISMATCH,
        ),
        (
            {"status": "open", "name": "NGUYEN VAN BINH", "id_match": True},
            "Nguyễn Văn An",
            "verified",
            NameMatch.MISMATCH,
        ),
        (
            {"status": "open", "name": "NGUYEN VAN AN", "id_match": False},
            "Nguyễn Văn An",
            "mismatch",
            NameMatch.EXACT,
        ),
        ({"status": "deceased", "reason_code": "MD07", "id_match": True}, "Nguyễn Văn An", "deceased", None),
        ({"status": "not_found", "reason_code": "AC01"}, "Nguyễn Văn An", "not_found", None),
    ],
)
def test_verdict(answer, ours, state, match):
    assert verdict(answer, ours) == (state, match)
