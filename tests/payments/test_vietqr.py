"""VietQR payloads: NAPAS vectors, one test per rejection rule, properties, and a real QR image round trip."""

import pytest
import qrcode
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st

from payments.reference import new_reference
from payments.vietqr import (
    GUID,
    SERVICE_TO_ACCOUNT,
    SERVICE_TO_CARD,
    VietQR,
    VietQRError,
    build_payload,
    crc16_ccitt_false,
    parse_payload,
)

# Only QR codes are printed; another format "found" in a QR's modules is a false read.
QR_ONLY = zxingcpp.BarcodeFormat.QRCode

# NAPAS's own examples.
STATIC_TO_CARD = (
    "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN63044F52"
)
DYNAMIC_TO_ACCOUNT = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA"
    "530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E"
)
# Correct CRC, but 38.01.01 declares 12 characters and 13 follow.
BAD_INNER_LENGTH = (
    "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA53037045802VN6304F4E5"
)


def _t(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _seal(body: str) -> str:
    """Append a correct CRC so a test reaches the rule it is about, not the checksum."""
    body += "6304"
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


BENEFICIARY = _t("00", "970403") + _t("01", "0011012345678")
MERCHANT = _t("00", GUID) + _t("01", BENEFICIARY) + _t("02", SERVICE_TO_ACCOUNT)


def _payload(**overrides: str | None) -> str:
    """A valid dynamic payload with top-level values replaced (None drops the tag), sealed with a good CRC."""
    fields = {
        "00": "01",
        "01": "12",
        "38": MERCHANT,
        "53": "704",
        "54": "180000",
        "58": "VN",
        "62": _t("08", "CP7K9M2QX4VT5"),
    }
    fields |= {tag.removeprefix("t"): value for tag, value in overrides.items()}
    return _seal("".join(_t(tag, value) for tag, value in fields.items() if value is not None))


def _rejected(payload: str) -> VietQRError:
    with pytest.raises(VietQRError) as info:
        parse_payload(payload)
    assert info.value.tag in str(info.value)
    return info.value


# ---------------------------------------------------------------- vectors and CRC


def test_crc16_ccitt_false_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_napas_static_card_vector() -> None:
    qr = parse_payload(STATIC_TO_CARD)
    assert qr == VietQR(bin="970403", account="9704031101234567", service=SERVICE_TO_CARD)
    assert not qr.dynamic
    assert build_payload(qr) == STATIC_TO_CARD


def test_napas_dynamic_account_vector() -> None:
    qr = parse_payload(DYNAMIC_TO_ACCOUNT)
    assert qr == VietQR(
        bin="970403",
        account="0011012345678",
        service=SERVICE_TO_ACCOUNT,
        amount=180_000,
        purpose="thanh toan don hang",
        bill_number="NPS6869",
    )
    assert qr.dynamic
    assert build_payload(qr) == DYNAMIC_TO_ACCOUNT


def test_napas_vector_with_inner_length_lie_is_rejected() -> None:
    assert _rejected(BAD_INNER_LENGTH).tag == "38.01.01"


def test_lower_case_crc_hex_is_accepted() -> None:
    assert parse_payload(DYNAMIC_TO_ACCOUNT[:-4] + "2e2e") == parse_payload(DYNAMIC_TO_ACCOUNT)


def test_test_helper_payload_is_valid() -> None:
    assert parse_payload(_payload()).purpose == "CP7K9M2QX4VT5"


def test_other_additional_data_sub_fields_are_preserved() -> None:
    qr = parse_payload(_payload(t62=_t("01", "BILL1") + _t("07", "TERM01") + _t("08", "CP7K9M2QX4VT5")))
    assert (qr.bill_number, qr.purpose, qr.extra_data) == ("BILL1", "CP7K9M2QX4VT5", (("07", "TERM01"),))


# ---------------------------------------------------------------- one test per rejection rule


def test_wrong_crc() -> None:
    assert _rejected(DYNAMIC_TO_ACCOUNT[:-4] + "2E2F").tag == "63"


def test_crc_that_is_not_hex() -> None:
    assert _rejected(DYNAMIC_TO_ACCOUNT[:-4] + "2E2G").tag == "63"


def test_declared_length_running_past_the_end_of_its_template() -> None:
    beneficiary = _t("00", "970403") + "0114" + "0011012345678"  # says 14, 13 follow
    merchant = _t("00", GUID) + _t("01", beneficiary) + _t("02", SERVICE_TO_ACCOUNT)
    assert _rejected(_payload(t38=merchant)).tag == "38.01.01"


def test_declared_length_running_past_the_end_of_the_payload() -> None:
    assert _rejected(DYNAMIC_TO_ACCOUNT[:-8] + "6305" + DYNAMIC_TO_ACCOUNT[-4:]).tag == "63"


def test_declared_length_leaving_garbage_in_a_template() -> None:
    # 62.08 says 18 and 19 follow: one stray character is left inside template 62.
    assert _rejected(_payload(t62="0818" + "thanh toan don hang")).tag == "62.08"


def test_template_longer_than_its_sub_fields() -> None:
    assert _rejected(_payload(t38=MERCHANT + "XY")).tag == "38.02"


def test_empty_data_object() -> None:
    assert _rejected(_payload(t62=_t("08", "CP7K9M2QX4VT5") + "0700")).tag == "62.07"


def test_service_code_outside_tag_38_in_purpose() -> None:
    assert _rejected(_payload(t62=_t("08", "QRIBFTTA"))).tag == "62.08"


def test_service_code_as_a_top_level_tag() -> None:
    error = _rejected(_payload(t02="QRIBFTTA"))
    assert error.tag == "02"
    assert "38.02" in str(error)


def test_non_ascii_in_purpose() -> None:
    assert _rejected(_payload(t62=_t("08", "thanh toán"))).tag == "62.08"


def test_non_printable_in_merchant_name() -> None:
    assert _rejected(_payload(t59="CITY\tHALL")).tag == "59"


@pytest.mark.parametrize(
    "amount", ["180.000", "180,000", "180 000", "180000.00", "0180000", "0", "-5", "1e5"]
)
def test_amount_that_is_not_whole_dong(amount: str) -> None:
    assert _rejected(_payload(t54=amount)).tag == "54"


def test_amount_longer_than_13_digits() -> None:
    assert _rejected(_payload(t54="1" * 14)).tag == "54"


@pytest.mark.parametrize(("tag", "value"), [("00", "02"), ("53", "840"), ("58", "US"), ("01", "13")])
def test_wrong_fixed_value(tag: str, value: str) -> None:
    assert _rejected(_payload(**{f"t{tag}": value})).tag == tag


def test_wrong_guid() -> None:
    merchant = _t("00", "A000000728") + _t("01", BENEFICIARY) + _t("02", SERVICE_TO_ACCOUNT)
    assert _rejected(_payload(t38=merchant)).tag == "38.00"


def test_unknown_service_code() -> None:
    merchant = _t("00", GUID) + _t("01", BENEFICIARY) + _t("02", "QRPUSH")
    assert _rejected(_payload(t38=merchant)).tag == "38.02"


def test_bin_that_is_not_six_digits() -> None:
    merchant = _t("00", GUID) + _t("01", _t("00", "97040") + _t("01", "123")) + _t("02", SERVICE_TO_ACCOUNT)
    assert _rejected(_payload(t38=merchant)).tag == "38.01.00"


@pytest.mark.parametrize("tag", ["00", "01", "38", "53", "58"])
def test_missing_mandatory_top_level_tag(tag: str) -> None:
    assert _rejected(_payload(**{f"t{tag}": None})).tag == tag


def test_missing_crc() -> None:
    assert _rejected(DYNAMIC_TO_ACCOUNT[:-8]).tag == "63"


@pytest.mark.parametrize(
    ("merchant", "tag"),
    [
        (_t("01", BENEFICIARY) + _t("02", SERVICE_TO_ACCOUNT), "38.00"),
        (_t("00", GUID) + _t("01", BENEFICIARY), "38.02"),
        (_t("00", GUID) + _t("01", _t("01", "123")) + _t("02", SERVICE_TO_ACCOUNT), "38.01.00"),
        (_t("00", GUID) + _t("01", _t("00", "970403")) + _t("02", SERVICE_TO_ACCOUNT), "38.01.01"),
    ],
)
def test_missing_mandatory_sub_field(merchant: str, tag: str) -> None:
    assert _rejected(_payload(t38=merchant)).tag == tag


def test_duplicate_top_level_tag() -> None:
    payload = _seal(DYNAMIC_TO_ACCOUNT[:-8] + "5802VN")
    assert _rejected(payload).tag == "58"


def test_duplicate_sub_tag() -> None:
    assert _rejected(_payload(t62=_t("08", "A") + _t("08", "B"))).tag == "62.08"


def test_crc_not_last() -> None:
    payload = DYNAMIC_TO_ACCOUNT + "5902XY"
    assert _rejected(payload).tag == "63"


def test_dynamic_without_amount_and_static_with_amount() -> None:
    assert _rejected(_payload(t54=None)).tag == "01"
    assert _rejected(_payload(t01="11")).tag == "01"


def test_tag_outside_the_profile() -> None:
    assert _rejected(_payload(t64=_t("00", "vi"))).tag == "64"


def test_payload_that_does_not_start_with_a_header() -> None:
    assert _rejected("hello").tag == "00"
    assert _rejected("").tag == "00"


# ---------------------------------------------------------------- builder refuses instead of truncating


@pytest.mark.parametrize(
    ("fields", "tag"),
    [
        ({"purpose": "P" * 26}, "62.08"),
        ({"merchant_name": "N" * 26}, "59"),
        ({"city": "C" * 16}, "60"),
        ({"bill_number": "B" * 26}, "62.01"),
        ({"account": "1" * 20}, "38.01.01"),
        ({"extra_data": (("07", "T" * 100),)}, "62.07"),
        ({"extra_data": (("05", "R" * 40), ("07", "T" * 40)), "purpose": "P" * 25}, "62"),
        ({"purpose": ""}, "62.08"),
        ({"purpose": "thanh toán"}, "62.08"),
        ({"purpose": "QRIBFTTC"}, "62.08"),
        ({"bin": "97040"}, "38.01.00"),
        ({"bin": "97040A"}, "38.01.00"),
        ({"account": "0011-0123"}, "38.01.01"),
        ({"service": SERVICE_TO_CARD, "account": "ABC123"}, "38.01.01"),
        ({"service": "QRPUSH"}, "38.02"),
        ({"amount": 0}, "54"),
        ({"amount": -1}, "54"),
        ({"amount": 10**13}, "54"),
        ({"amount": True}, "54"),
        ({"amount": 1000.0}, "54"),
        ({"extra_data": (("08", "X"),)}, "62.08"),
        ({"extra_data": (("07", "X"), ("07", "Y"))}, "62.07"),
    ],
)
def test_builder_refuses_invalid_fields(fields: dict, tag: str) -> None:
    qr = VietQR(**{"bin": "970403", "account": "0011012345678", "amount": 5000, **fields})
    with pytest.raises(VietQRError) as info:
        build_payload(qr)
    assert info.value.tag == tag


def test_builder_accepts_fields_at_their_maximum_length() -> None:
    qr = VietQR(
        bin="970436",
        account="A" * 19,
        amount=10**13 - 1,
        purpose="P" * 25,
        bill_number="B" * 25,
        merchant_name="N" * 25,
        city="C" * 15,
    )
    assert parse_payload(build_payload(qr)) == qr


def test_payment_reference_travels_as_purpose() -> None:
    reference = new_reference()
    qr = VietQR(bin="970436", account="0011001234567", amount=25_000, purpose=reference)
    assert parse_payload(build_payload(qr)).purpose == reference


# ---------------------------------------------------------------- properties

_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(_PRINTABLE, min_size=1, max_size=max_size).filter(
        lambda s: "QRIBFTTA" not in s and "QRIBFTTC" not in s
    )


@st.composite
def vietqrs(draw: st.DrawFn) -> VietQR:
    service = draw(st.sampled_from([SERVICE_TO_ACCOUNT, SERVICE_TO_CARD]))
    account_pattern = r"[0-9]{1,19}" if service == SERVICE_TO_CARD else r"[A-Za-z0-9]{1,19}"
    extra_tags = [f"{n:02d}" for n in range(2, 100) if n != 8]
    # At most two short extras so template 62 stays within 99 characters.
    extras = draw(st.dictionaries(st.sampled_from(extra_tags), _text(16), max_size=2))
    return VietQR(
        bin=draw(st.from_regex(r"[0-9]{6}", fullmatch=True)),
        account=draw(st.from_regex(account_pattern, fullmatch=True)),
        service=service,
        amount=draw(st.none() | st.integers(1, 10**13 - 1)),
        purpose=draw(st.none() | _text(25)),
        bill_number=draw(st.none() | _text(25)),
        merchant_name=draw(st.none() | _text(25)),
        city=draw(st.none() | _text(15)),
        extra_data=tuple(sorted(extras.items())),
    )


@given(vietqrs())
def test_build_then_parse_returns_the_same_fields(qr: VietQR) -> None:
    payload = build_payload(qr)
    assert parse_payload(payload) == qr
    assert payload[:12] == ("000201010212" if qr.amount is not None else "000201010211")


@given(vietqrs(), st.data())
def test_any_single_character_change_is_rejected(qr: VietQR, data: st.DataObject) -> None:
    # CRC-16 detects every error burst of ≤ 16 bits, and one substituted ASCII character is an 8-bit burst,
    # so a change anywhere before the CRC must fail; a change inside the CRC no longer matches it — except a
    # case change of a hex digit, which is the same CRC by design.
    payload = build_payload(qr)
    index = data.draw(st.integers(0, len(payload) - 1))
    original = payload[index]
    replacement = data.draw((_PRINTABLE | st.characters()).filter(lambda c: c != original))
    changed = payload[:index] + replacement + payload[index + 1 :]
    if index >= len(payload) - 4 and replacement.upper() == original.upper():
        assert parse_payload(changed) == qr
    else:
        with pytest.raises(VietQRError):
            parse_payload(changed)


# ---------------------------------------------------------------- a real QR image


def test_qr_image_decodes_back_to_the_exact_payload() -> None:
    payload = build_payload(
        VietQR(
            bin="970436",
            account="0011001234567",
            amount=35_000,
            purpose=new_reference(),
            merchant_name="HA NOI PARKING",
            city="HA NOI",
        )
    )
    image = qrcode.make(payload, error_correction=qrcode.constants.ERROR_CORRECT_M).get_image()
    results = zxingcpp.read_barcodes(image, formats=QR_ONLY)
    assert [(r.format, r.text) for r in results] == [(zxingcpp.BarcodeFormat.QRCode, payload)]
    assert parse_payload(results[0].text).purpose.startswith("CP")


def _crc16_bitwise(data: bytes) -> int:
    """The textbook definition, bit by bit: the reference the fast implementation must equal."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


@given(st.binary(max_size=300))
def test_crc16_equals_the_bitwise_definition(data: bytes) -> None:
    assert crc16_ccitt_false(data) == _crc16_bitwise(data)
