"""Build and strictly parse NAPAS VietQR payloads (EMVCo merchant-presented QR, tag-length-value).

Pure functions: no I/O. Every rule violation is a VietQRError naming the offending tag; nothing is truncated.
"""

from __future__ import annotations

import binascii
import functools
import re
from dataclasses import dataclass

GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
SERVICE_CODES = frozenset({SERVICE_TO_ACCOUNT, SERVICE_TO_CARD})
STATIC, DYNAMIC = "11", "12"

_FIXED = {"00": "01", "53": "704", "58": "VN"}
_TOP_MANDATORY = ("00", "01", "38", "53", "58", "63")
_TOP_KNOWN = frozenset({*_TOP_MANDATORY, "54", "59", "60", "62"})
_MAX_LEN = {"59": 25, "60": 15, "62.01": 25, "62.08": 25}  # EMV Book maxima for these fields

_DIGITS2 = re.compile(r"[0-9]{2}")
_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")
_CARD = re.compile(r"[0-9]{1,19}")
_AMOUNT = re.compile(r"[1-9][0-9]{0,12}")  # VND has no minor unit: no separators, decimals or leading zero
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


class VietQRError(ValueError):
    """A payload or field that breaks the VietQR profile; `tag` is the dotted path, e.g. "38.01.01"."""

    def __init__(self, tag: str, message: str) -> None:
        super().__init__(f"tag {tag}: {message}")
        self.tag = tag


@dataclass(frozen=True, slots=True)
class VietQR:
    bin: str
    account: str
    service: str = SERVICE_TO_ACCOUNT
    amount: int | None = None  # đồng; present means a dynamic (single-amount) QR
    purpose: str | None = None  # 62.08, carries our payment reference
    bill_number: str | None = None  # 62.01
    merchant_name: str | None = None  # 59
    city: str | None = None  # 60
    extra_data: tuple[tuple[str, str], ...] = ()  # other 62 sub-fields (e.g. 07 terminal), ascending tag

    @property
    def dynamic(self) -> bool:
        return self.amount is not None


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0. The standard library's crc_hqx
    is exactly this polynomial unreflected, in C (a pure-Python loop cost ~90 µs per payload)."""
    return binascii.crc_hqx(data, 0xFFFF)


# ---------------------------------------------------------------- building


def build_payload(qr: VietQR) -> str:
    _validate(qr)
    head, head_crc = _head(qr.bin, qr.account, qr.service, qr.amount, qr.merchant_name, qr.city)
    additional = {"01": qr.bill_number, "08": qr.purpose, **dict(qr.extra_data)}
    additional_value = "".join(
        _tlv(f"62.{tag}", value) for tag, value in sorted(additional.items()) if value is not None
    )
    tail = (_tlv("62", additional_value) if additional_value else "") + "6304"
    return head + tail + f"{binascii.crc_hqx(tail.encode('ascii'), head_crc):04X}"


@functools.lru_cache(maxsize=4096)
def _head(
    bin_: str, account: str, service: str, amount: int | None, merchant_name: str | None, city: str | None
) -> tuple[str, int]:
    """The data objects before 62 (the same for every request of a fee's terms) and the CRC state after
    them: a creation then encodes and checksums only its reference (CRC-16 runs on, byte by byte)."""
    beneficiary = _tlv("38.01.00", bin_) + _tlv("38.01.01", account)
    merchant = _tlv("38.00", GUID) + _tlv("38.01", beneficiary) + _tlv("38.02", service)
    head = (
        _tlv("00", "01")
        + _tlv("01", DYNAMIC if amount is not None else STATIC)
        + _tlv("38", merchant)
        + _tlv("53", "704")
        + (_tlv("54", str(amount)) if amount is not None else "")
        + _tlv("58", "VN")
        + (_tlv("59", merchant_name) if merchant_name is not None else "")
        + (_tlv("60", city) if city is not None else "")
    )
    return head, crc16_ccitt_false(head.encode("ascii"))


def _tlv(path: str, value: str) -> str:
    if not 1 <= len(value) <= 99:
        raise VietQRError(path, f"value of {len(value)} characters does not fit a 2-digit length (1-99)")
    return f"{path.rsplit('.', 1)[-1]}{len(value):02d}{value}"


# ---------------------------------------------------------------- parsing


def parse_payload(text: str) -> VietQR:
    top = _split(text, "")
    if "63" not in top:
        raise VietQRError("63", "CRC is missing")
    if list(top)[-1] != "63":
        raise VietQRError("63", "CRC must be the last data object")
    for tag in _TOP_MANDATORY:
        if tag not in top:
            raise VietQRError(tag, "mandatory data object is missing")

    merchant = _split(top["38"], "38")
    for sub in ("00", "01", "02"):
        if sub not in merchant:
            raise VietQRError(f"38.{sub}", "mandatory data object is missing")
    beneficiary = _split(merchant["01"], "38.01")
    for sub in ("00", "01"):
        if sub not in beneficiary:
            raise VietQRError(f"38.01.{sub}", "mandatory data object is missing")
    additional = _split(top["62"], "62") if "62" in top else {}

    leaves = {tag: value for tag, value in top.items() if tag not in ("38", "62")}
    leaves |= {f"38.{tag}": value for tag, value in merchant.items() if tag != "01"}
    leaves |= {f"38.01.{tag}": value for tag, value in beneficiary.items()}
    leaves |= {f"62.{tag}": value for tag, value in additional.items()}
    for path, value in leaves.items():
        _check_text(path, value)

    _check_crc(text, top["63"])

    for tag in top:
        if tag not in _TOP_KNOWN:
            raise VietQRError(tag, "data object is not part of the VietQR profile")
    for tag in merchant:
        if tag not in ("00", "01", "02"):
            raise VietQRError(f"38.{tag}", "data object is not part of the VietQR merchant account template")
    for tag in beneficiary:
        if tag not in ("00", "01"):
            raise VietQRError(f"38.01.{tag}", "data object is not part of the beneficiary template")
    for tag, expected in _FIXED.items():
        if top[tag] != expected:
            raise VietQRError(tag, f"must be {expected!r}, got {top[tag]!r}")
    if merchant["00"] != GUID:
        raise VietQRError("38.00", f"GUID must be {GUID}, got {merchant['00']!r}")

    amount = None
    if "54" in top:
        if not _AMOUNT.fullmatch(top["54"]):
            raise VietQRError("54", f"amount {top['54']!r} must be whole đồng: digits, no leading zero, > 0")
        amount = int(top["54"])
    if top["01"] not in (STATIC, DYNAMIC):
        raise VietQRError("01", f"point of initiation must be 11 or 12, got {top['01']!r}")
    if (top["01"] == DYNAMIC) != (amount is not None):
        raise VietQRError("01", "12 (dynamic) needs an amount in tag 54; 11 (static) must not have one")

    qr = VietQR(
        bin=beneficiary["00"],
        account=beneficiary["01"],
        service=merchant["02"],
        amount=amount,
        purpose=additional.get("08"),
        bill_number=additional.get("01"),
        merchant_name=top.get("59"),
        city=top.get("60"),
        extra_data=tuple(sorted((t, v) for t, v in additional.items() if t not in ("01", "08"))),
    )
    _validate(qr)
    return qr


def _split(text: str, path: str) -> dict[str, str]:
    """Split one template level into tag → value, insisting the declared lengths tile it exactly."""
    prefix = f"{path}." if path else ""
    fields: dict[str, str] = {}
    pos, previous = 0, None
    while pos < len(text):
        header = text[pos : pos + 4]
        if len(header) < 4 or not (_DIGITS2.fullmatch(header[:2]) and _DIGITS2.fullmatch(header[2:])):
            # Bytes that are not a data object header mean the previous declared length was wrong.
            if previous is not None:
                raise VietQRError(
                    prefix + previous,
                    f"declared length {len(fields[previous])} is followed by {len(text) - pos} "
                    f"character(s) that are not a data object ({text[pos : pos + 4]!r}…)",
                )
            raise VietQRError(path or "00", f"expected a data object header, got {header!r}")
        tag, length = header[:2], int(header[2:])
        if length == 0:
            raise VietQRError(prefix + tag, "declared length is 00; empty data objects are not allowed")
        value = text[pos + 4 : pos + 4 + length]
        if len(value) < length:
            raise VietQRError(prefix + tag, f"declares {length} characters but only {len(value)} remain")
        if tag in fields:
            raise VietQRError(prefix + tag, "appears more than once")
        fields[tag] = value
        pos, previous = pos + 4 + length, tag
    if not fields:
        raise VietQRError(path or "00", "empty payload")
    return fields


def _check_crc(text: str, stated: str) -> None:
    if not _HEX4.fullmatch(stated):
        raise VietQRError("63", f"CRC must be four hex digits, got {stated!r}")
    computed = crc16_ccitt_false(text[:-4].encode("ascii"))  # covers everything up to and including "6304"
    if int(stated, 16) != computed:
        raise VietQRError("63", f"CRC mismatch: payload says {stated.upper()}, computed {computed:04X}")


# ---------------------------------------------------------------- field rules shared by builder and parser


def _check_text(path: str, value: str, max_len: int = 99) -> None:
    if not 1 <= len(value) <= max_len:
        raise VietQRError(path, f"must be 1-{max_len} characters, got {len(value)}")
    if not _PRINTABLE.fullmatch(value):
        raise VietQRError(path, f"only printable ASCII is allowed, got {value!r}")
    if path != "38.02" and any(code in value for code in SERVICE_CODES):
        raise VietQRError(path, "a NAPAS service code may only appear in tag 38.02")


def _validate(qr: VietQR) -> None:
    if not _BIN.fullmatch(qr.bin):
        raise VietQRError("38.01.00", f"acquirer BIN must be 6 digits, got {qr.bin!r}")
    if qr.service not in SERVICE_CODES:
        raise VietQRError("38.02", f"service code must be one of {sorted(SERVICE_CODES)}, got {qr.service!r}")
    account_rule = _CARD if qr.service == SERVICE_TO_CARD else _ACCOUNT
    if not account_rule.fullmatch(qr.account):
        raise VietQRError(
            "38.01.01", f"account/card number must match {account_rule.pattern}: {qr.account!r}"
        )
    if qr.amount is not None and (
        type(qr.amount) is not int or qr.amount <= 0 or not _AMOUNT.fullmatch(str(qr.amount))
    ):
        raise VietQRError(
            "54", f"amount must be a positive whole number of đồng (≤ 13 digits): {qr.amount!r}"
        )
    for path, value in (
        ("59", qr.merchant_name),
        ("60", qr.city),
        ("62.01", qr.bill_number),
        ("62.08", qr.purpose),
    ):
        if value is not None:
            _check_text(path, value, _MAX_LEN[path])
    seen: set[str] = set()
    for tag, value in qr.extra_data:
        if not _DIGITS2.fullmatch(tag) or tag in ("00", "01", "08") or tag in seen:
            raise VietQRError(f"62.{tag}", "extra additional-data tags must be distinct, 02-99, not 08")
        seen.add(tag)
        _check_text(f"62.{tag}", value)
