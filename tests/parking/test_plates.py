"""Plate normalisation, validation per vehicle class, written forms and reading-confusion distance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking.plates import (
    SERIES_LETTERS,
    UNUSED_PROVINCE_CODES,
    InvalidPlate,
    Plate,
    class_disagreement,
    closest_by_confusion,
    confusion_distance,
    format_plate,
    match_plate,
    normalise_plate,
    parse_plate,
    plate_text,
)

# (typed text, vehicle class, written form, kind)
VALID = [
    # cars: one series letter, five digits NNN.NN or legacy four
    ("30A-123.45", "car", "30A-123.45", "civil_car"),
    ("30a12345", "car", "30A-123.45", "civil_car"),
    ("30A 123 45", "car", "30A-123.45", "civil_car"),
    (" 30a–123.45 ", "car", "30A-123.45", "civil_car"),
    ("29A-1234", "car", "29A-1234", "civil_car"),
    ("29a 1234", "car", "29A-1234", "civil_car"),
    ("51F-999.99", "car", "51F-999.99", "civil_car"),
    ("30E-000.01", "car", "30E-000.01", "civil_car"),
    ("11A-012.34", "car", "11A-012.34", "civil_car"),
    ("88A-123.45", "car", "88A-123.45", "civil_car"),
    ("99A-456.78", "car", "99A-456.78", "civil_car"),
    ("43Z-765.43", "car", "43Z-765.43", "civil_car"),
    ("30K-567.89", "large_car", "30K-567.89", "civil_car"),
    ("29B-112.34", "large_car", "29B-112.34", "civil_car"),
    # the class decides the reading of the same compact string
    ("29B11234", "car", "29B-112.34", "civil_car"),
    ("29B11234", "motorbike", "29-B1 1234", "civil_motorbike"),
    ("30A12345", "motorbike", "30-A1 2345", "civil_motorbike"),
    # special car series
    ("29LD-123.45", "car", "29LD-123.45", "special"),
    ("30KT-012.34", "car", "30KT-012.34", "special"),
    ("51TĐ-001.23", "car", "51TĐ-001.23", "special"),
    ("51tđ00123", "car", "51TĐ-001.23", "special"),
    ("51TÐ00123", "car", "51TĐ-001.23", "special"),  # eth typed for Đ
    ("43DA-012.34", "car", "43DA-012.34", "special"),
    ("30HC-123.45", "large_car", "30HC-123.45", "special"),
    ("29LD-1234", "car", "29LD-1234", "special"),
    # diplomatic and foreign: province, series, 3-digit country code, 2-digit serial
    ("80NG-123-45", "car", "80NG-123-45", "diplomatic"),
    ("80NG12345", "car", "80NG-123-45", "diplomatic"),
    ("80-NG-123-45", "car", "80NG-123-45", "diplomatic"),
    ("80 NN 123 45", "car", "80NN-123-45", "foreign"),
    ("80QT-012-34", "car", "80QT-012-34", "diplomatic"),
    ("80CV-012-34", "car", "80CV-012-34", "diplomatic"),
    ("80NG12345", "motorbike", "80NG-123-45", "diplomatic"),
    ("41NN-234-56", "motorbike", "41NN-234-56", "foreign"),
    # military: two letters, four digits
    ("TM-12-34", "car", "TM-12-34", "military"),
    ("tm1234", "car", "TM-12-34", "military"),
    ("QA-56-78", "large_car", "QA-56-78", "military"),
    ("KB 9876", "motorbike", "KB-98-76", "military"),
    # motorbikes: letter + digit series, five digits or legacy four
    ("29-B1 123.45", "motorbike", "29-B1 123.45", "civil_motorbike"),
    ("29B112345", "motorbike", "29-B1 123.45", "civil_motorbike"),
    ("29-b1-123.45", "motorbike", "29-B1 123.45", "civil_motorbike"),
    ("29-B1 1234", "motorbike", "29-B1 1234", "civil_motorbike"),
    ("59-X3 456.78", "motorbike", "59-X3 456.78", "civil_motorbike"),
    ("43-E1 012.34", "motorbike", "43-E1 012.34", "civil_motorbike"),
    ("33-Y9 999.99", "motorbike", "33-Y9 999.99", "civil_motorbike"),
    # 2023 two-letter series, always five digits
    ("29-HA 002.33", "motorbike", "29-HA 002.33", "civil_motorbike"),
    ("29ha00233", "motorbike", "29-HA 002.33", "civil_motorbike"),
    ("30-AA 123.45", "motorbike", "30-AA 123.45", "civil_motorbike"),
    # electric motorbikes
    ("29-MĐ1 123.45", "motorbike", "29-MĐ1 123.45", "special"),
    ("29mđ112345", "motorbike", "29-MĐ1 123.45", "special"),
    ("30-MĐ2 000.01", "motorbike", "30-MĐ2 000.01", "special"),
    # bicycles carry a lot's tag, kept as typed (normalised)
    ("xe 01", "bicycle", "XE01", "tag"),
    ("TAG-0042", "bicycle", "TAG0042", "tag"),
    ("đ1", "bicycle", "Đ1", "tag"),
    ("ABCDEF123456", "bicycle", "ABCDEF123456", "tag"),
]

# (typed text, vehicle class, a fragment of the reason)
INVALID = [
    ("13A-123.45", "car", "province code 13"),
    ("42A-123.45", "car", "province code 42"),
    ("44A12345", "car", "province code 44"),
    ("45A12345", "car", "province code 45"),
    ("46A12345", "car", "province code 46"),
    ("87A-123.45", "car", "province code 87"),
    ("91A12345", "car", "province code 91"),
    ("96A-123.45", "car", "province code 96"),
    ("10A-123.45", "car", "outside 11–99"),
    ("00A12345", "car", "outside 11–99"),
    ("13-B1 123.45", "motorbike", "province code 13"),
    ("87NG-123-45", "car", "province code 87"),
    ("30I-123.45", "car", "'I'"),
    ("30J-123.45", "car", "'J'"),
    ("30O-123.45", "car", "'O'"),
    ("30Q-123.45", "car", "'Q'"),
    ("30R-123.45", "car", "'R'"),
    ("30W-123.45", "car", "'W'"),
    ("30Đ-123.45", "car", "'Đ'"),
    ("29-I1 123.45", "motorbike", "'I'"),
    ("29-W1 123.45", "motorbike", "'W'"),
    ("29-HO 123.45", "motorbike", "'O'"),
    ("29-QA 123.45", "motorbike", "'Q'"),
    ("29-B0 123.45", "motorbike", "digit 1–9"),
    ("29-MĐ0 123.45", "motorbike", "digit 1–9"),
    ("30A-123", "car", "not 3"),
    ("30A-123.456", "car", "not 6"),
    ("29LD-123.456", "car", "not 6"),
    ("29-B1 123", "motorbike", "not 3"),
    ("29-B1 123.456", "motorbike", "not 6"),
    ("29-HA 1234", "motorbike", "not 4"),
    ("29-MĐ1 1234", "motorbike", "not 4"),
    ("80NG-1234", "car", "not 4"),
    ("TM-123", "car", "not 3"),
    ("TM-123-45", "motorbike", "not 5"),
    ("29-B1 123.45", "car", "not 6"),  # a motorbike plate is no car plate
    ("30AB-123.45", "car", "not used on cars"),
    ("", "car", "empty"),
    (" - . ", "motorbike", "empty"),
    ("30A-123.4!", "car", "fits no car plate format"),
    ("3A-123.45", "car", "fits no car plate format"),
    ("A30-123.45", "motorbike", "fits no motorbike plate format"),
    ("T1-12-34", "car", "fits no car plate format"),
    ("", "bicycle", "empty"),
    ("ABCDEF1234567", "bicycle", "1–12"),
    ("TAG/1", "bicycle", "1–12"),
]


@pytest.mark.parametrize(("text", "vehicle_class", "written", "kind"), VALID)
def test_valid_plates_are_written_in_their_form(text, vehicle_class, written, kind):
    plate = parse_plate(text, vehicle_class)
    assert plate.written == written
    assert plate.kind == kind
    assert plate.compact == normalise_plate(text) == normalise_plate(written)
    assert (plate.province or "") + plate.series + plate.number == plate.compact
    assert format_plate(text, vehicle_class) == written
    assert format_plate(plate, vehicle_class) == written


@pytest.mark.parametrize(("text", "vehicle_class", "reason"), INVALID)
def test_invalid_plates_say_why(text, vehicle_class, reason):
    with pytest.raises(InvalidPlate) as caught:
        parse_plate(text, vehicle_class)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_the_tables_are_large_enough():
    assert len(VALID) + len(INVALID) >= 60


def test_parsed_plate_fields():
    assert parse_plate("29-B1 123.45", "motorbike") == Plate(
        "29B112345", "civil_motorbike", "29", "B1", "12345", "29-B1 123.45"
    )
    assert parse_plate("TM-12-34", "car") == Plate("TM1234", "military", None, "TM", "1234", "TM-12-34")


def test_unknown_vehicle_class_is_a_programming_error_not_a_plate_error():
    with pytest.raises(ValueError, match="unknown vehicle class") as caught:
        parse_plate("30A-123.45", "truck")
    assert not isinstance(caught.value, InvalidPlate)


def test_normalise_keeps_đ_and_drops_separators():
    assert normalise_plate("29-mđ1 123.45") == "29MĐ112345"
    assert normalise_plate("30a\t123\n45") == "30A12345"
    assert normalise_plate("30A—123.45") == "30A12345"


# --- generated plates -------------------------------------------------------------------------------------

provinces = st.sampled_from([f"{code}" for code in range(11, 100) if code not in UNUSED_PROVINCE_CODES])
letters = st.sampled_from(sorted(SERIES_LETTERS))
digits = st.text("0123456789", min_size=1, max_size=1)


def numbers(*lengths: int):
    return st.sampled_from(lengths).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))


car_plates = st.one_of(
    st.tuples(provinces, letters, numbers(4, 5)).map("".join),
    st.tuples(provinces, st.sampled_from(["LD", "DA", "KT", "HC", "TĐ"]), numbers(4, 5)).map("".join),
    st.tuples(provinces, st.sampled_from(["NG", "NN", "QT", "CV"]), numbers(5)).map("".join),
)
motorbike_plates = st.one_of(
    st.tuples(provinces, letters, st.sampled_from("123456789"), numbers(4, 5)).map("".join),
    st.tuples(provinces, letters, letters, numbers(5)).map("".join),
    st.tuples(provinces, st.just("MĐ"), st.sampled_from("123456789"), numbers(5)).map("".join),
)
military_plates = st.tuples(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2), numbers(4)).map(
    "".join
)
bicycle_tags = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789Đ", min_size=1, max_size=12)
plates_with_class = st.one_of(
    st.tuples(st.one_of(car_plates, military_plates), st.sampled_from(["car", "large_car"])),
    st.tuples(st.one_of(motorbike_plates, military_plates), st.just("motorbike")),
    st.tuples(bicycle_tags, st.just("bicycle")),
)


@given(plates_with_class)
def test_format_then_normalise_is_the_identity(case):
    compact, vehicle_class = case
    written = format_plate(compact, vehicle_class)
    assert normalise_plate(written) == compact
    assert format_plate(written, vehicle_class) == written
    assert parse_plate(written, vehicle_class).compact == compact


@given(plates_with_class, st.lists(st.sampled_from([" ", ".", "-", "  "]), min_size=1, max_size=4), st.data())
def test_separators_and_case_do_not_matter(case, separators, data):
    compact, vehicle_class = case
    typed = compact.lower()
    for separator in separators:
        at = data.draw(st.integers(0, len(typed)))
        typed = typed[:at] + separator + typed[at:]
    assert parse_plate(typed, vehicle_class).written == format_plate(compact, vehicle_class)


@given(st.one_of(car_plates), st.sampled_from(sorted(UNUSED_PROVINCE_CODES)))
def test_unused_province_codes_are_always_refused(compact, code):
    with pytest.raises(InvalidPlate, match=f"province code {code}"):
        parse_plate(f"{code}{compact[2:]}", "car")


@given(st.text(max_size=14), st.sampled_from(["bicycle", "motorbike", "car", "large_car"]))
def test_any_text_parses_to_its_own_compact_form_or_is_refused(text, vehicle_class):
    try:
        plate = parse_plate(text, vehicle_class)
    except InvalidPlate as refused:
        assert refused.reason
    else:
        assert plate.compact == normalise_plate(text)
        assert normalise_plate(plate.written) == plate.compact


# --- reading confusions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "actual", "distance"),
    [
        ("30A-888.80", "30A-888.80", 0),
        ("30A-BB8.80", "30A-888.80", 2),  # 8 read as B twice
        ("30A-1Z3.45", "30A-123.45", 1),  # 2 read as Z
        ("29-81 123.45", "29-B1 123.45", 1),  # the series B read as 8
        ("29-B1 T23.45", "29-B1 123.45", 1),
        ("5IA-123.45", "SIA-123.45", 1),
        ("30G-123.45", "306-123.45", 1),
        ("290-D0123", "29D-0D123", 3),  # 0/D both ways
        ("S1D-6Z8.T5", "510-G2B.15", 6),
        ("30A-123.46", "30A-123.45", None),  # 5 and 6 are not a confusion pair
        ("30A-123.40", "30A-123.4O", 1),  # O is on no plate, but typists and plate readers write it for 0
        ("3OA-I23.45", "30A-123.45", 2),  # I for 1 too (issue 12)
        ("29D-123.45", "29Đ-123.45", None),
        ("30A-123.45", "30A-1234", None),  # different lengths
    ],
)
def test_confusion_distance(read, actual, distance):
    assert confusion_distance(read, actual) == distance
    assert confusion_distance(actual, read) == distance


@given(st.text("0123456789ABDGSTZ", max_size=10), st.text("0123456789ABDGSTZ", max_size=10))
def test_confusion_distance_is_symmetric_and_bounded(a, b):
    distance = confusion_distance(a, b)
    assert distance == confusion_distance(b, a)
    assert confusion_distance(a, a) == 0
    if distance is not None:
        assert 0 <= distance <= len(a) == len(b)
        assert (distance == 0) == (a == b)


def test_closest_by_confusion_suggests_nearest_first():
    inside = ["30A88880", "30ABB880", "30A8B880", "29B112345", "30A88881"]
    assert closest_by_confusion("30A-BB8.80", inside) == ["30ABB880", "30A8B880", "30A88880"]
    assert closest_by_confusion("30A-BB8.80", inside, max_distance=1) == ["30ABB880", "30A8B880"]
    assert closest_by_confusion("77C-999.99", inside) == []


@pytest.mark.parametrize(
    ("typed", "inside", "match"),
    [
        ("30A-123.45", "30A12345", (0, "exact")),
        ("30A-1Z3.45", "30A12345", (1, "confusion")),
        ("3OA-I23.4S", "30A12345", (3, "confusion")),
        ("30A-123.46", "30A12345", (1, "typo")),  # one wrong digit
        ("30A-1Z3.46", "30A12345", (2, "typo")),  # a look-alike and a wrong digit
        ("30A-113.46", "30A12345", None),  # two wrong digits
        ("30A-1234", "30A12345", None),  # a missing digit is not one wrong digit
        ("", "30A12345", None),
    ],
)
def test_match_plate_forgives_look_alikes_and_one_wrong_character(typed, inside, match):
    result = match_plate(typed, inside)
    assert (None if result is None else (result.distance, result.kind)) == match


def test_match_plate_ranks_look_alikes_before_a_wrong_character():
    confusion, typo = match_plate("30A-1Z3.45", "30A12345"), match_plate("30A-123.46", "30A12345")
    assert confusion is not None and typo is not None and confusion.rank < typo.rank


# The written form decides the class (issue 8, point 17) ----------------------------------------------------


@given(plates_with_class.filter(lambda case: case[1] != "bicycle"))
def test_a_plate_written_as_its_own_class_or_compact_never_disagrees(case):
    compact, vehicle_class = case
    assert class_disagreement(format_plate(compact, vehicle_class), vehicle_class) is None
    assert class_disagreement(compact, vehicle_class) is None  # no separators: the chosen class decides


@pytest.mark.parametrize(
    ("typed", "chosen", "offered_first"),
    [
        ("30A-123.45", "motorbike", ("car", "30A-123.45")),
        ("30A 123 45", "motorbike", ("car", "30A-123.45")),
        ("29-B1 123.45", "car", ("motorbike", "29-B1 123.45")),
        ("29B1-1234", "large_car", ("motorbike", "29-B1 1234")),
        ("29-B1 1234", "car", ("motorbike", "29-B1 1234")),
    ],
)
def test_a_plate_written_as_another_class_offers_that_reading_first(typed, chosen, offered_first):
    readings = class_disagreement(typed, chosen)
    assert readings is not None and readings[0].agrees
    assert (readings[0].vehicle_class, readings[0].plate.written) == offered_first


def test_look_alike_cyrillic_and_greek_letters_fold_to_latin():
    cyrillic, greek = "АВЕКМНОРСТУХ", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
    assert normalise_plate(cyrillic) == "ABEKMHOPCTYX"
    assert normalise_plate(cyrillic.lower()) == "ABEKMHOPCTYX"
    assert normalise_plate(greek) == normalise_plate(greek.lower()) == "ABEZHIKMNOPTYX"
    assert parse_plate("30А-777.77", "car").written == "30A-777.77"  # Cyrillic А
    assert plate_text("30α 777.77") == "30a 777.77"  # separators kept: the written form still decides


@pytest.mark.parametrize("text", ["30Ж-777.77", "30A-777.7\u0661", "30ı777", "30A_777", "30A/777", "ß"])
def test_characters_no_plate_carries_are_named(text):
    with pytest.raises(InvalidPlate, match="cannot be on a plate"):
        plate_text(text)
