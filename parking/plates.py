"""Vietnamese licence plates: normalise what attendants and cameras type, validate it per vehicle class,
show it in the written form, and measure how far two plates are apart under common misreadings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from parking.vocabulary import VEHICLE_CLASSES, VehicleClass

# Province codes run 11–99; these are assigned to no province, so a plate carrying one is misread or forged.
UNUSED_PROVINCE_CODES = frozenset({13, 42, 44, 45, 46, 87, 91, 96})
# I, J, O, Q, R, W are left out because they are easily confused with digits or other letters.
SERIES_LETTERS = frozenset("ABCDEFGHKLMNPSTUVXYZ")
# Joint venture / foreign-invested, economic zone, economic company, limited use, domestic assembly test.
SPECIAL_CAR_SERIES = ("LD", "DA", "KT", "HC", "TĐ")
DIPLOMATIC_SERIES = ("NG", "QT", "CV")  # diplomatic missions, international organisations, their officials
FOREIGN_SERIES = ("NN",)  # foreign organisations and individuals
ELECTRIC_MOTORBIKE_SERIES = "MĐ"
MAX_TAG_LENGTH = 12

# Pairs a camera or a tired eye swaps; "did you mean" suggestions forgive these (and, in match_plate, one
# other wrong character). O and I are on no plate, but typists and plate readers produce them for 0 and 1.
CONFUSION_PAIRS = frozenset(
    frozenset(pair)
    for pair in (
        ("0", "D"),
        ("0", "O"),
        ("1", "I"),
        ("8", "B"),
        ("1", "T"),
        ("5", "S"),
        ("2", "Z"),
        ("6", "G"),
    )
)

# Separators people and cameras put between the parts (any whitespace, dots, hyphen and dash variants).
_SEPARATORS = re.compile(r"[\s.\-‐‑–—]+")
_TAG = re.compile(rf"[A-Z0-9Đ]{{1,{MAX_TAG_LENGTH}}}")


class InvalidPlate(ValueError):
    """The text fits no plate rule for the vehicle class; `reason` says which rule it broke."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Plate:
    """A validated plate. `province + series + number == compact` (province is None for military and tags)."""

    compact: str
    kind: str  # civil_car, civil_motorbike, special, diplomatic, foreign, military, tag
    province: str | None
    series: str
    number: str
    written: str


# Cyrillic and Greek letters drawn exactly like the Latin letters plates use (and Ð, the eth, like Đ). A
# keyboard layout or a plate-recognition engine may produce them; unfolded, `30А-777.77` with a Cyrillic А
# is another plate than the car `30A-777.77` already inside.
_LOOKALIKE_UPPER = {
    **dict(zip("АВЕКМНОРСТУХ", "ABEKMHOPCTYX", strict=True)),  # Cyrillic
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),  # Greek
    "Ð": "Đ",
}
_LOOKALIKES = str.maketrans(
    {**_LOOKALIKE_UPPER, **{k.lower(): v.lower() for k, v in _LOOKALIKE_UPPER.items()}}
)
# What may remain of a plate after NFKC and folding: digits, A–Z, Đ (either case) and the separators.
_PLATE_CHARACTER = re.compile(r"[0-9A-Za-zĐđ\s.\-‐‑–—]")


def fold_lookalikes(text: str) -> str:
    """NFKC, then Cyrillic and Greek look-alikes of plate letters become those Latin letters (case kept)."""
    return unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)


def plate_text(text: str) -> str:
    """`text` NFKC-normalised and folded (separators kept, so the written form still decides the reading);
    raises InvalidPlate naming the first character a plate cannot hold (anything but digits, A–Z, Đ and the
    separators). For typed plates, override plates and plate-recognition candidates alike."""
    folded = fold_lookalikes(text)
    for ch in folded:
        if not _PLATE_CHARACTER.fullmatch(ch):
            raise InvalidPlate(
                f"{ch!r} (U+{ord(ch):04X}) cannot be on a plate: only digits, letters A–Z, Đ and separators"
            )
    return folded


def normalise_plate(text: str) -> str:
    """Upper-case and drop spaces, dots and dashes; Đ stays (đ becomes Đ). Does not validate."""
    # NFKC first: fullwidth ３０Ａ is 30A. Look-alike Cyrillic and Greek letters (and Ð, the eth) are folded
    # into the Latin letters (and Đ) they show. Invisible characters are refused earlier (core.text), and
    # anything else that is no plate character by plate_text(), not here.
    return _SEPARATORS.sub("", fold_lookalikes(text).upper())


def _dotted(number: str) -> str:
    # Five-digit numbers are written NNN.NN; legacy four-digit numbers stay as they are.
    return f"{number[:3]}.{number[3:]}" if len(number) == 5 else number


def _check_letters(letters: str) -> str | None:
    bad = [ch for ch in letters if ch not in SERIES_LETTERS]
    return f"series letter {bad[0]!r} is not used on plates" if bad else None


def _check_digit(series: str) -> str | None:
    return f"series {series} must end in a digit 1–9" if series.endswith("0") else None


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    digits: tuple[int, ...]
    write: Callable[[str, str, str], str]  # (province, series, number) -> written form
    check_series: Callable[[str], str | None]


def _car(province: str, series: str, number: str) -> str:
    return f"{province}{series}-{_dotted(number)}"  # 30A-123.45, 30A-1234, 29LD-123.45


def _motorbike(province: str, series: str, number: str) -> str:
    return f"{province}-{series} {_dotted(number)}"  # 29-B1 123.45, 29-B1 1234, 29-HA 002.33, 29-MĐ1 123.45


def _diplomatic(province: str, series: str, number: str) -> str:
    # The three digits are the country/organisation code and the two after it a serial, so both are
    # separated by dashes rather than written as one dotted number: 80NG-123-45.
    return f"{province}{series}-{number[:3]}-{number[3:]}"


def _military(_province: str, series: str, number: str) -> str:
    return f"{series}-{number[:2]}-{number[2:]}"  # TM-12-34


def _two_letter_car(series: str) -> str:
    return f"series {series} is not used on cars (two-letter car series: {', '.join(SPECIAL_CAR_SERIES)})"


def _rule(
    kind: str,
    pattern: str,
    digits: tuple[int, ...],
    write: Callable[[str, str, str], str],
    check: Callable[[str], str | None] | None = None,
) -> _Rule:
    return _Rule(kind, re.compile(pattern), digits, write, check or (lambda series: None))


# Shapes take any number of digits so that a wrong count gets its own reason; within a class the first
# shape that matches decides (diplomatic NG/NN/CV before the two-letter motorbike series, MĐ before it too).
# [0-9] rather than \d, which would also accept Arabic-Indic and other Unicode digits.
_PROVINCE, _NUMBER = "([0-9]{2})", "([0-9]+)"
_DIPLOMATIC = _rule("diplomatic", f"{_PROVINCE}({'|'.join(DIPLOMATIC_SERIES)}){_NUMBER}", (5,), _diplomatic)
_FOREIGN = _rule("foreign", f"{_PROVINCE}({'|'.join(FOREIGN_SERIES)}){_NUMBER}", (5,), _diplomatic)
_MILITARY = _rule("military", f"()([A-Z]{{2}}){_NUMBER}", (4,), _military)  # unit codes use all of A–Z
_CAR_RULES = (
    _DIPLOMATIC,
    _FOREIGN,
    _rule("special", f"{_PROVINCE}({'|'.join(SPECIAL_CAR_SERIES)}){_NUMBER}", (4, 5), _car),
    _rule("civil_car", f"{_PROVINCE}([A-ZĐ]){_NUMBER}", (4, 5), _car, _check_letters),
    _rule("civil_car", f"{_PROVINCE}([A-ZĐ]{{2}}){_NUMBER}", (4, 5), _car, _two_letter_car),
    _MILITARY,
)
_MOTORBIKE_RULES = (
    _DIPLOMATIC,
    _FOREIGN,
    # Electric motorbike series were introduced with five-digit numbers, so no legacy four-digit form.
    _rule(
        "special", f"{_PROVINCE}({ELECTRIC_MOTORBIKE_SERIES}[0-9]){_NUMBER}", (5,), _motorbike, _check_digit
    ),
    _rule(
        "civil_motorbike",
        f"{_PROVINCE}([A-ZĐ][0-9]){_NUMBER}",
        (4, 5),
        _motorbike,
        lambda s: _check_letters(s[0]) or _check_digit(s),
    ),
    # 2023 two-letter series, issued with five-digit numbers only.
    _rule("civil_motorbike", f"{_PROVINCE}([A-ZĐ]{{2}}){_NUMBER}", (5,), _motorbike, _check_letters),
    _MILITARY,
)
_RULES = {"motorbike": _MOTORBIKE_RULES, "car": _CAR_RULES, "large_car": _CAR_RULES}
_EXAMPLES = {"motorbike": "29-B1 123.45", "car": "30A-123.45", "large_car": "30A-123.45"}


def _check_province(province: str) -> str | None:
    code = int(province)
    if not 11 <= code <= 99:
        return f"province code {province} is outside 11–99"
    if code in UNUSED_PROVINCE_CODES:
        return f"province code {province} is not in use"
    return None


def parse_plate(text: str, vehicle_class: str) -> Plate:
    """Validate `text` (written or compact) as a plate of `vehicle_class`.

    The class decides the reading: `29B11234` is the car `29B-112.34` but the motorbike `29-B1 1234`.
    Bicycles carry no plates, so for `bicycle` any 1–12 character [A-Z0-9Đ] tag (e.g. a lot's ticket
    number) is accepted and written unchanged.
    """
    if vehicle_class not in VEHICLE_CLASSES:
        raise ValueError(f"unknown vehicle class {vehicle_class!r}")
    compact = normalise_plate(text)
    if not compact:
        raise InvalidPlate("plate is empty")
    if vehicle_class == "bicycle":
        if not _TAG.fullmatch(compact):
            raise InvalidPlate(f"a bicycle tag is 1–{MAX_TAG_LENGTH} letters A–Z, Đ or digits")
        return Plate(compact, "tag", None, "", compact, compact)
    for rule in _RULES[vehicle_class]:
        match = rule.pattern.fullmatch(compact)
        if match is None:
            continue
        province, series, number = match.groups()
        reason = (province and _check_province(province)) or rule.check_series(series)
        if reason is None and len(number) not in rule.digits:
            counts = " or ".join(map(str, rule.digits))
            reason = f"series {series} takes {counts} digits, not {len(number)}"
        if reason:
            raise InvalidPlate(reason)
        written = rule.write(province, series, number)
        return Plate(compact, rule.kind, province or None, series, number, written)
    raise InvalidPlate(f"{compact!r} fits no {vehicle_class} plate format (e.g. {_EXAMPLES[vehicle_class]})")


def format_plate(plate: Plate | str, vehicle_class: str) -> str:
    """The written form (`30A-123.45`, `29-B1 123.45`, `80NG-123-45`, `TM-12-34`); raises InvalidPlate."""
    return parse_plate(plate.compact if isinstance(plate, Plate) else plate, vehicle_class).written


def confusion_distance(a: str, b: str) -> int | None:
    """How many positions differ only by a reading confusion (0/D, 8/B, 1/T, 5/S, 2/Z, 6/G).

    None when the lengths differ or any position differs in another way; 0 for the same plate.
    """
    a, b = normalise_plate(a), normalise_plate(b)
    if len(a) != len(b):
        return None
    distance = 0
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if frozenset((x, y)) not in CONFUSION_PAIRS:
            return None
        distance += 1
    return distance


@dataclass(frozen=True)
class PlateMatch:
    """How a typed or read plate reaches a plate inside: `kind` exact, confusion (only confusion pairs
    differ) or typo (one other wrong character, besides any confusions); `distance` = differing positions."""

    distance: int
    kind: str

    @property
    def rank(self) -> tuple[int, int]:
        """Fewest differences first, then confusion-only before a wrong character."""
        return (self.distance, 0 if self.kind != "typo" else 1)


def match_plate(typed: str, inside: str, *, max_distance: int = 3) -> PlateMatch | None:
    """`typed` against `inside` (both normalised): None unless they have the same length, differ in at most
    `max_distance` positions, and at most one of those differences is not a confusion pair."""
    a, b = normalise_plate(typed), normalise_plate(inside)
    if len(a) != len(b) or not a:
        return None
    confusions = wrong = 0
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if frozenset((x, y)) in CONFUSION_PAIRS:
            confusions += 1
        else:
            wrong += 1
    distance = confusions + wrong
    if wrong > 1 or distance > max_distance:
        return None
    if distance == 0:
        return PlateMatch(0, "exact")
    return PlateMatch(distance, "typo" if wrong else "confusion")


def closest_by_confusion(plate: str, candidates: Iterable[str], *, max_distance: int = 3) -> list[str]:
    """Candidates reachable from `plate` by at most `max_distance` confusions, nearest first."""
    scored = []
    for candidate in set(candidates):
        distance = confusion_distance(plate, candidate)
        if distance is not None and distance <= max_distance:
            scored.append((distance, candidate))
    return [candidate for _, candidate in sorted(scored)]


@dataclass(frozen=True)
class Reading:
    """How a plate reads as one vehicle class; `agrees` when the typed separators fit that reading."""

    vehicle_class: str
    plate: Plate
    agrees: bool


_MOTOR_CLASSES = (VehicleClass.MOTORBIKE, VehicleClass.CAR, VehicleClass.LARGE_CAR)


def _separator_positions(text: str) -> frozenset[int]:
    """Where separators stand in `text`, counted in characters of its compact form: '30A-123.45' → {3, 6}."""
    text = unicodedata.normalize("NFKC", text).strip()
    positions, seen = set(), 0
    for part in _SEPARATORS.split(text):
        if not part:
            continue
        if seen:
            positions.add(seen)
        seen += len(part)
    return frozenset(positions)


def plate_readings(text: str) -> list[Reading]:
    """Every class reading of `text` (motorbike, car, large car), those its typed separators fit first.

    The written form decides where the series ends: `30A-123.45` (separators after 3 and 6 characters) fits
    the car `30A-123.45` but not the motorbike `30-A1 2345` (a separator inside its series A1), so only the
    car reading agrees. A reading allows a separator where it writes one and between province and series
    (`30 A 123.45` is still the car); one left out is forgiven, so `30A12345` agrees with both readings and
    the chosen class decides, as before.
    """
    typed = _separator_positions(text)
    readings = []
    for vehicle_class in _MOTOR_CLASSES:
        try:
            plate = parse_plate(text, vehicle_class)
        except InvalidPlate:
            continue
        # A reading allows separators where it writes them, and between province and series either way.
        head = len(plate.province or "")
        allowed = _separator_positions(plate.written) | {head, head + len(plate.series)}
        readings.append(Reading(vehicle_class, plate, typed <= allowed))
    return sorted(readings, key=lambda r: not r.agrees)


def class_disagreement(text: str, vehicle_class: str) -> list[Reading] | None:
    """The readings to offer when `text`, as written, is not a plate of `vehicle_class`; None when it is.

    It disagrees when some reading fits the typed separators and none of those is of `vehicle_class` (or,
    for bicycles, whose tags can be anything, when the text reads as a motor vehicle plate at all).
    """
    readings = plate_readings(text)
    agreeing = {r.vehicle_class for r in readings if r.agrees}
    if not agreeing or vehicle_class in agreeing:
        return None
    return readings
