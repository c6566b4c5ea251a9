"""Parking tariffs as data, and the pure function that quotes the exit fee of one stay from them.

Rules, in local time (Asia/Ho_Chi_Minh; Việt Nam keeps no daylight saving, so wall-clock hours are real):

Turn-based classes — every class whose tariff has no hourly blocks:
  * The clock is cut into blocks: day 06:00–18:00 and night 18:00–06:00, each including its start and
    excluding its end. A stay [entered, exited) costs one turn for every block it touches: `day_turn_price`
    per day block, `night_turn_price` per night block. Leaving at exactly 18:00 does not touch the night;
    a stay of zero length touches the block it started in.
  * Overnight: with `overnight_multiplier` set, a night block whose midnight the stay spans (entered before
    00:00 and left after it) costs `overnight_multiplier × night_turn_price` (rounded half up to whole đồng)
    instead of one night turn. The multiplier must be at least 1, so a longer stay never costs less.
Hourly classes — `hourly_blocks` set, meant for cars:
  * The whole stay is billed in hours, each started hour counted in full, at least one hour. Hour n costs
    the price of the last block with `from_hour ≤ n` (progressive); the time of day does not matter, so
    turn prices are not used and an overnight multiplier is refused for such a tariff.
A monthly pass holder pays 0. Money is int đồng throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from core.i18n import translate
from core.money import LOCAL_TZ, format_vnd
from parking import admin_messages, messages  # noqa: F401 (the sentences of describe_tariff, class names)
from parking.plates import VEHICLE_CLASSES

DAY_STARTS, NIGHT_STARTS = 6, 18
_BLOCK = timedelta(hours=12)
_HOUR = timedelta(hours=1)


class UnpricedVehicleClass(ValueError):
    """The tariff has no prices for this vehicle class."""


def _require_money(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int of đồng, got {value!r}")


@dataclass(frozen=True)
class ClassTariff:
    """Prices for one vehicle class; `hourly_blocks` is ((from_hour, price_per_hour), …) from hour 1 up."""

    day_turn_price: int
    night_turn_price: int
    hourly_blocks: tuple[tuple[int, int], ...] = ()
    overnight_multiplier: Decimal | None = None
    monthly_pass_price: int | None = None

    def __post_init__(self) -> None:
        _require_money("day_turn_price", self.day_turn_price)
        _require_money("night_turn_price", self.night_turn_price)
        if self.monthly_pass_price is not None:
            _require_money("monthly_pass_price", self.monthly_pass_price)
        # Accept lists (JSON, database arrays) but keep a tuple so the tariff stays immutable and hashable.
        blocks = tuple((int(start), int(price)) for start, price in self.hourly_blocks)
        object.__setattr__(self, "hourly_blocks", blocks)
        starts = [start for start, _ in blocks]
        if blocks and (starts[0] != 1 or starts != sorted(set(starts))):
            raise ValueError("hourly blocks must start at hour 1 and rise strictly")
        for _, price in blocks:
            _require_money("hourly block price", price)
        if self.overnight_multiplier is not None:
            multiplier = Decimal(str(self.overnight_multiplier))
            if blocks:
                raise ValueError("an overnight multiplier applies to turn-based tariffs only")
            if not multiplier.is_finite() or multiplier < 1:
                raise ValueError("overnight_multiplier must be at least 1 so longer stays never cost less")
            object.__setattr__(self, "overnight_multiplier", multiplier)

    @property
    def overnight_price(self) -> int | None:
        if self.overnight_multiplier is None:
            return None
        exact = self.night_turn_price * self.overnight_multiplier
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Tariff:
    """One version of a zone's prices, in force from `effective_from`."""

    zone: str
    effective_from: date
    classes: Mapping[str, ClassTariff] = field(hash=False)

    def __post_init__(self) -> None:
        unknown = set(self.classes) - set(VEHICLE_CLASSES)
        if unknown:
            raise ValueError(f"unknown vehicle classes {sorted(unknown)}")
        object.__setattr__(self, "classes", MappingProxyType(dict(self.classes)))

    def for_class(self, vehicle_class: str) -> ClassTariff:
        try:
            return self.classes[vehicle_class]
        except KeyError:
            raise UnpricedVehicleClass(f"zone {self.zone} has no price for {vehicle_class}") from None


@dataclass(frozen=True)
class FeeLine:
    """One line of the fee as the attendant sees it; `code` is the key for translated labels."""

    code: str  # day_turn, night_turn, overnight, hours, pass
    description: str
    quantity: int
    unit_price: int
    amount: int


@dataclass(frozen=True)
class FeeQuote:
    amount: int
    lines: tuple[FeeLine, ...]
    reason: str  # "turns", "hourly" or "pass"


def _line(code: str, description: str, quantity: int, unit_price: int) -> FeeLine:
    return FeeLine(code, description, quantity, unit_price, quantity * unit_price)


def _quote(lines: list[FeeLine], reason: str) -> FeeQuote:
    kept = tuple(line for line in lines if line.quantity)
    return FeeQuote(sum(line.amount for line in kept), kept, reason)


def _local_wall_time(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _block_start(moment: datetime) -> datetime:
    if DAY_STARTS <= moment.hour < NIGHT_STARTS:
        return datetime.combine(moment.date(), time(DAY_STARTS))
    night_of = moment.date() if moment.hour >= NIGHT_STARTS else moment.date() - timedelta(days=1)
    return datetime.combine(night_of, time(NIGHT_STARTS))


def _quote_turns(prices: ClassTariff, entered: datetime, exited: datetime) -> FeeQuote:
    start, end = _local_wall_time(entered), _local_wall_time(exited)
    overnight_price = prices.overnight_price
    days = nights = overnights = 0
    block = _block_start(start)
    while True:  # the block the stay starts in always counts, each later one if the stay reaches into it
        if block.hour == DAY_STARTS:
            days += 1
        elif overnight_price is not None and start < block + timedelta(hours=24 - NIGHT_STARTS) < end:
            overnights += 1
        else:
            nights += 1
        block += _BLOCK
        if block >= end:
            break
    lines = [
        _line("day_turn", "day turn (06:00–18:00)", days, prices.day_turn_price),
        _line("night_turn", "night turn (18:00–06:00)", nights, prices.night_turn_price),
    ]
    if overnight_price is not None:
        lines.append(_line("overnight", "overnight (stay past midnight)", overnights, overnight_price))
    return _quote(lines, "turns")


def _quote_hours(prices: ClassTariff, entered: datetime, exited: datetime) -> FeeQuote:
    hours = max(1, -(-(exited - entered) // _HOUR))  # a started hour is a full hour
    blocks = prices.hourly_blocks
    lines = []
    for index, (first, price) in enumerate(blocks):
        if first > hours:
            break
        last = min(hours, blocks[index + 1][0] - 1) if index + 1 < len(blocks) else hours
        label = f"hour {first}" if first == last else f"hours {first}–{last}"
        lines.append(_line("hours", label, last - first + 1, price))
    return _quote(lines, "hourly")


def quote_exit_fee(
    tariff: Tariff,
    vehicle_class: str,
    entered_at: datetime,
    exited_at: datetime,
    *,
    has_pass: bool = False,
) -> FeeQuote:
    """The fee for a stay from `entered_at` to `exited_at` (aware datetimes) under the module's rules."""
    if entered_at.utcoffset() is None or exited_at.utcoffset() is None:
        raise ValueError("entry and exit times must be timezone-aware")
    if exited_at < entered_at:
        raise ValueError("exit is before entry")
    prices = tariff.for_class(vehicle_class)
    if has_pass:
        return FeeQuote(0, (_line("pass", "monthly pass", 1, 0),), "pass")
    if prices.hourly_blocks:
        return _quote_hours(prices, entered_at, exited_at)
    return _quote_turns(prices, entered_at, exited_at)


# Tariffs as sentences a person reads ---------------------------------------------------------------------


def _turn_prices(prices: ClassTariff, lang: str) -> str:
    day, night = prices.day_turn_price, prices.night_turn_price
    if day == night:
        if day == 0:
            return translate("tariffdesc.free", lang)
        return translate("tariffdesc.turn_same", lang, price=format_vnd(day))
    if day == 0:
        return translate("tariffdesc.day_free", lang, night=format_vnd(night))
    if night == 0:
        return translate("tariffdesc.night_free", lang, day=format_vnd(day))
    return translate("tariffdesc.turns", lang, day=format_vnd(day), night=format_vnd(night))


def _hour_prices(blocks: tuple[tuple[int, int], ...], lang: str) -> str:
    if len(blocks) == 1:
        return translate("tariffdesc.per_hour", lang, price=format_vnd(blocks[0][1]))
    parts = []
    for index, (first, price) in enumerate(blocks):
        money = format_vnd(price)
        if index + 1 == len(blocks):
            parts.append(translate("tariffdesc.hours_from", lang, price=money, first=first))
            continue
        last = blocks[index + 1][0] - 1
        if index == 0:
            key = "tariffdesc.first_hour" if last == 1 else "tariffdesc.first_hours"
            parts.append(translate(key, lang, price=money, hours=last))
        elif first == last:
            parts.append(translate("tariffdesc.hour_n", lang, price=money, first=first))
        else:
            parts.append(translate("tariffdesc.hours_range", lang, price=money, first=first, last=last))
    return ", ".join(parts)


def describe_tariff(vehicle_class: str, prices: ClassTariff, lang: str = "vi") -> str:
    """One class's prices as a sentence for a person, under the rules above: "Xe máy: 5.000 ₫ / lượt ban
    ngày, 10.000 ₫ ban đêm; vé tháng 150.000 ₫". Hourly tariffs name each block ("25.000 ₫ / giờ cho 2 giờ
    đầu, 35.000 ₫ / giờ từ giờ thứ 3"); an overnight multiplier is shown as the price it makes."""
    if prices.hourly_blocks:
        parts = [_hour_prices(prices.hourly_blocks, lang)]
    else:
        parts = [_turn_prices(prices, lang)]
        if prices.overnight_price is not None:
            parts.append(translate("tariffdesc.overnight", lang, price=format_vnd(prices.overnight_price)))
    if prices.monthly_pass_price is not None:
        parts.append(translate("tariffdesc.pass", lang, price=format_vnd(prices.monthly_pass_price)))
    vehicle = translate(f"pclass.{vehicle_class}", lang)
    return translate("tariffdesc.line", lang, vehicle=vehicle, prices="; ".join(parts))
