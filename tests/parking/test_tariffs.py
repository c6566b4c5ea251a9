"""Exit-fee quotes: day/night turns, overnight, progressive hourly blocks, passes, and their invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import LOCAL_TZ
from parking.tariffs import ClassTariff, FeeLine, Tariff, UnpricedVehicleClass, quote_exit_fee

CAR_BLOCKS = [(1, 25_000), (3, 35_000), (5, 45_000)]
TARIFF = Tariff(
    zone="HK-1",
    effective_from=date(2025, 1, 1),
    classes={
        "bicycle": ClassTariff(day_turn_price=3_000, night_turn_price=5_000),
        "motorbike": ClassTariff(day_turn_price=5_000, night_turn_price=8_000, monthly_pass_price=120_000),
        "car": ClassTariff(day_turn_price=30_000, night_turn_price=40_000, hourly_blocks=CAR_BLOCKS),
        "large_car": ClassTariff(
            day_turn_price=50_000, night_turn_price=70_000, overnight_multiplier=Decimal("1.5")
        ),
    },
)
OVERNIGHT = Tariff(
    zone="HK-2",
    effective_from=date(2025, 1, 1),
    classes={"motorbike": ClassTariff(day_turn_price=5_000, night_turn_price=8_000, overnight_multiplier=2)},
)


def hanoi(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, tzinfo=LOCAL_TZ)


def quantities(quote) -> dict[str, int]:
    return {line.code: line.quantity for line in quote.lines}


def test_stay_within_the_day_is_one_day_turn():
    quote = quote_exit_fee(TARIFF, "motorbike", hanoi(3, 8), hanoi(3, 17, 30))
    assert quote.amount == 5_000
    assert quote.reason == "turns"
    assert quote.lines == (FeeLine("day_turn", "day turn (06:00–18:00)", 1, 5_000, 5_000),)


def test_stay_within_the_night_is_one_night_turn_even_across_midnight():
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 19), hanoi(3, 23, 30)).amount == 8_000
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 22), hanoi(4, 2)).amount == 8_000
    assert quote_exit_fee(TARIFF, "bicycle", hanoi(4, 0, 30), hanoi(4, 5, 59)).amount == 5_000


def test_crossing_six_in_the_morning_charges_night_and_day():
    quote = quote_exit_fee(TARIFF, "motorbike", hanoi(3, 5), hanoi(3, 7))
    assert quantities(quote) == {"day_turn": 1, "night_turn": 1}
    assert quote.amount == 13_000


def test_crossing_six_in_the_evening_charges_day_and_night():
    quote = quote_exit_fee(TARIFF, "bicycle", hanoi(3, 17), hanoi(3, 19))
    assert quantities(quote) == {"day_turn": 1, "night_turn": 1}
    assert quote.amount == 8_000


def test_block_boundaries_belong_to_the_block_they_start():
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 17), hanoi(3, 18)).amount == 5_000
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 17), hanoi(3, 18, 0, 1)).amount == 13_000
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 18), hanoi(3, 19)).amount == 8_000
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 6), hanoi(3, 7)).amount == 5_000


def test_equal_times_charge_the_turn_they_fall_in():
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 12), hanoi(3, 12)).amount == 5_000
    assert quote_exit_fee(TARIFF, "motorbike", hanoi(3, 3), hanoi(3, 3)).amount == 8_000


def test_several_days_charge_every_block_touched():
    # Mon 08:00 → Wed 20:00 touches three day and three night blocks.
    quote = quote_exit_fee(TARIFF, "motorbike", hanoi(3, 8), hanoi(5, 20))
    assert quantities(quote) == {"day_turn": 3, "night_turn": 3}
    assert quote.amount == 3 * 5_000 + 3 * 8_000


def test_times_in_other_zones_are_read_in_hanoi_time():
    entered = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội
    assert (
        quote_exit_fee(TARIFF, "motorbike", entered, entered + timedelta(hours=9, minutes=30)).amount == 5_000
    )
    assert (
        quote_exit_fee(TARIFF, "motorbike", entered, entered + timedelta(hours=10, minutes=30)).amount
        == 13_000
    )


def test_overnight_replaces_the_night_turn_when_the_stay_spans_midnight():
    quote = quote_exit_fee(OVERNIGHT, "motorbike", hanoi(3, 20), hanoi(4, 7))
    assert quantities(quote) == {"day_turn": 1, "overnight": 1}
    assert quote.amount == 5_000 + 2 * 8_000
    assert quote_exit_fee(OVERNIGHT, "motorbike", hanoi(3, 23), hanoi(4, 0, 30)).amount == 16_000
    # not spanning midnight: a plain night turn
    assert quote_exit_fee(OVERNIGHT, "motorbike", hanoi(3, 20), hanoi(3, 23, 59)).amount == 8_000
    assert quote_exit_fee(OVERNIGHT, "motorbike", hanoi(4, 0), hanoi(4, 5)).amount == 8_000
    assert quote_exit_fee(OVERNIGHT, "motorbike", hanoi(3, 20), hanoi(4, 0)).amount == 8_000


def test_overnight_for_each_night_of_a_long_stay():
    quote = quote_exit_fee(TARIFF, "large_car", hanoi(3, 9), hanoi(6, 9))
    assert quantities(quote) == {"day_turn": 4, "overnight": 3}
    assert quote.amount == 4 * 50_000 + 3 * 105_000


def test_overnight_price_is_rounded_half_up_to_whole_dong():
    assert ClassTariff(5_000, 8_001, overnight_multiplier=Decimal("1.5")).overnight_price == 12_002
    assert ClassTariff(5_000, 8_001, overnight_multiplier="1.25").overnight_price == 10_001
    assert ClassTariff(5_000, 8_000).overnight_price is None


@pytest.mark.parametrize(
    ("stay", "amount"),
    [
        (timedelta(0), 25_000),
        (timedelta(minutes=1), 25_000),
        (timedelta(hours=1), 25_000),
        (timedelta(hours=1, microseconds=1), 50_000),
        (timedelta(hours=2), 50_000),
        (timedelta(hours=2, minutes=1), 85_000),
        (timedelta(hours=4), 120_000),
        (timedelta(hours=9), 345_000),
        (timedelta(hours=8, minutes=1), 345_000),
    ],
)
def test_car_hours_are_progressive(stay, amount):
    entered = hanoi(3, 8)
    assert quote_exit_fee(TARIFF, "car", entered, entered + stay).amount == amount


def test_car_lines_show_each_block():
    quote = quote_exit_fee(TARIFF, "car", hanoi(3, 8), hanoi(3, 17))
    assert quote.reason == "hourly"
    assert [(line.description, line.quantity, line.unit_price, line.amount) for line in quote.lines] == [
        ("hours 1–2", 2, 25_000, 50_000),
        ("hours 3–4", 2, 35_000, 70_000),
        ("hours 5–9", 5, 45_000, 225_000),
    ]


def test_car_hours_ignore_the_time_of_day():
    assert quote_exit_fee(TARIFF, "car", hanoi(3, 17), hanoi(3, 19)).amount == 50_000
    assert quote_exit_fee(TARIFF, "car", hanoi(3, 23), hanoi(4, 1)).amount == 50_000


def test_pass_holders_pay_nothing():
    quote = quote_exit_fee(TARIFF, "motorbike", hanoi(3, 8), hanoi(9, 20), has_pass=True)
    assert quote.amount == 0
    assert quote.reason == "pass"
    assert sum(line.amount for line in quote.lines) == 0


def test_exit_before_entry_is_refused():
    with pytest.raises(ValueError, match="before entry"):
        quote_exit_fee(TARIFF, "motorbike", hanoi(3, 9), hanoi(3, 8, 59))


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        quote_exit_fee(TARIFF, "motorbike", datetime(2025, 3, 3, 8), hanoi(3, 9))


def test_a_class_without_prices_is_refused():
    with pytest.raises(UnpricedVehicleClass, match="bicycle"):
        quote_exit_fee(OVERNIGHT, "bicycle", hanoi(3, 8), hanoi(3, 9))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hourly_blocks": [(2, 25_000)]}, "start at hour 1"),
        ({"hourly_blocks": [(1, 25_000), (3, 35_000), (3, 45_000)]}, "rise strictly"),
        ({"hourly_blocks": [(1, 25_000), (5, 45_000), (3, 35_000)]}, "rise strictly"),
        ({"hourly_blocks": [(1, -1)]}, "non-negative"),
        ({"overnight_multiplier": Decimal("0.5")}, "at least 1"),
        ({"overnight_multiplier": "NaN"}, "at least 1"),
        ({"overnight_multiplier": 2, "hourly_blocks": CAR_BLOCKS}, "turn-based"),
        ({"monthly_pass_price": 1.5}, "int of đồng"),
    ],
)
def test_inconsistent_class_tariffs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClassTariff(day_turn_price=5_000, night_turn_price=8_000, **kwargs)


def test_negative_and_unknown_tariffs_are_refused():
    with pytest.raises(ValueError, match="day_turn_price"):
        ClassTariff(day_turn_price=-1, night_turn_price=8_000)
    with pytest.raises(ValueError, match="truck"):
        Tariff("HK-1", date(2025, 1, 1), {"truck": ClassTariff(5_000, 8_000)})


def test_tariffs_are_immutable_values():
    blocks_as_lists = ClassTariff(30_000, 40_000, hourly_blocks=[[1, 25_000], [3, 35_000], [5, 45_000]])
    assert blocks_as_lists == TARIFF.for_class("car")
    with pytest.raises(TypeError):
        TARIFF.classes["truck"] = ClassTariff(1, 1)  # type: ignore[index]


# --- properties ---------------------------------------------------------------------------------------------

money = st.integers(0, 200_000)
turn_tariffs = st.builds(
    ClassTariff,
    day_turn_price=money,
    night_turn_price=money,
    overnight_multiplier=st.none() | st.decimals(1, 4, places=2),
)


@st.composite
def hourly_tariffs(draw) -> ClassTariff:
    prices = draw(st.lists(money, min_size=1, max_size=4))
    gaps = draw(st.lists(st.integers(1, 6), min_size=len(prices) - 1, max_size=len(prices) - 1))
    starts = [1]
    for gap in gaps:
        starts.append(starts[-1] + gap)
    return ClassTariff(draw(money), draw(money), hourly_blocks=list(zip(starts, prices, strict=True)))


class_tariffs = turn_tariffs | hourly_tariffs()
entries = st.datetimes(
    datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.sampled_from([UTC, LOCAL_TZ])
)
stays = st.timedeltas(timedelta(0), timedelta(days=5))


def tariff_of(prices: ClassTariff) -> Tariff:
    return Tariff("Z", date(2024, 1, 1), {"car": prices})


@given(class_tariffs, entries, stays, stays)
def test_fee_is_never_negative_adds_up_and_never_falls_as_the_stay_grows(prices, entered, first, second):
    tariff = tariff_of(prices)
    shorter, longer = sorted([first, second])
    short = quote_exit_fee(tariff, "car", entered, entered + shorter)
    long = quote_exit_fee(tariff, "car", entered, entered + longer)
    for quote in (short, long):
        assert quote.amount >= 0
        assert quote.lines
        assert sum(line.amount for line in quote.lines) == quote.amount
        assert all(
            line.quantity > 0 and line.amount == line.quantity * line.unit_price for line in quote.lines
        )
    assert short.amount <= long.amount


@given(class_tariffs, entries, stays)
def test_pass_holders_always_pay_zero(prices, entered, stay):
    quote = quote_exit_fee(tariff_of(prices), "car", entered, entered + stay, has_pass=True)
    assert quote.amount == 0 == sum(line.amount for line in quote.lines)


@given(class_tariffs, entries, stays)
def test_the_zone_of_the_timestamps_does_not_change_the_fee(prices, entered, stay):
    tariff = tariff_of(prices)
    exited = entered + stay
    in_utc = quote_exit_fee(tariff, "car", entered.astimezone(UTC), exited.astimezone(UTC))
    in_hanoi = quote_exit_fee(tariff, "car", entered.astimezone(LOCAL_TZ), exited.astimezone(LOCAL_TZ))
    assert in_utc == in_hanoi


@given(
    turn_tariffs,
    st.datetimes(datetime(2025, 1, 1), datetime(2025, 12, 31)).map(
        lambda t: t.replace(second=0, microsecond=0)
    ),
    st.integers(0, 3 * 24 * 60),
)
def test_turns_match_a_minute_by_minute_count(prices, entered_local, minutes):
    """Oracle: the blocks touched are the blocks of the minutes the vehicle was inside."""
    entered = entered_local.replace(tzinfo=LOCAL_TZ)
    blocks = set()
    for minute in range(max(minutes, 1)):
        moment = entered_local + timedelta(minutes=minute)
        if 6 <= moment.hour < 18:
            blocks.add(("day", moment.date()))
        else:
            night_of = moment.date() - timedelta(days=1 if moment.hour < 6 else 0)
            blocks.add(("night", night_of))
    nights = {night_of for kind, night_of in blocks if kind == "night"}
    spans = {
        night_of
        for night_of in nights
        if entered_local
        < datetime.combine(night_of + timedelta(days=1), datetime.min.time())
        < entered_local + timedelta(minutes=minutes)
    }
    overnight = spans if prices.overnight_multiplier is not None else set()
    expected = {
        "day_turn": sum(kind == "day" for kind, _ in blocks),
        "night_turn": len(nights - overnight),
        "overnight": len(overnight),
    }
    quote = quote_exit_fee(tariff_of(prices), "car", entered, entered + timedelta(minutes=minutes))
    assert quantities(quote) == {code: count for code, count in expected.items() if count}


@given(hourly_tariffs(), entries, stays)
def test_hours_match_an_hour_by_hour_sum(prices, entered, stay):
    hours = max(1, -(-stay // timedelta(hours=1)))
    price_of = {}
    for hour in range(1, hours + 1):
        price_of[hour] = [price for start, price in prices.hourly_blocks if start <= hour][-1]
    quote = quote_exit_fee(tariff_of(prices), "car", entered, entered + stay)
    assert quote.amount == sum(price_of.values())
    assert sum(line.quantity for line in quote.lines) == hours


# Tariffs as sentences (describe_tariff) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vehicle_class", "prices", "lang", "sentence"),
    [
        ("motorbike", ClassTariff(5_000, 10_000), "vi", "Xe máy: 5.000 ₫ / lượt ban ngày, 10.000 ₫ ban đêm"),
        (
            "motorbike",
            ClassTariff(5_000, 10_000),
            "en",
            "Motorbike: 5.000 ₫ per daytime turn, 10.000 ₫ at night",
        ),
        ("bicycle", ClassTariff(2_000, 2_000), "vi", "Xe đạp: 2.000 ₫ / lượt, cả ngày và đêm"),
        ("bicycle", ClassTariff(0, 0), "vi", "Xe đạp: miễn phí"),
        ("bicycle", ClassTariff(0, 3_000), "vi", "Xe đạp: miễn phí ban ngày, 3.000 ₫ / lượt ban đêm"),
        ("bicycle", ClassTariff(3_000, 0), "vi", "Xe đạp: 3.000 ₫ / lượt ban ngày, miễn phí ban đêm"),
        (
            "large_car",
            ClassTariff(50_000, 70_000, overnight_multiplier=Decimal("1.5"), monthly_pass_price=1_234_567),
            "vi",
            "Ô tô trên 9 chỗ: 50.000 ₫ / lượt ban ngày, 70.000 ₫ ban đêm; gửi qua đêm (qua 0 giờ) 105.000 ₫ "
            "thay cho lượt đêm; vé tháng 1.234.567 ₫",
        ),
        (
            "car",
            ClassTariff(0, 0, hourly_blocks=CAR_BLOCKS, monthly_pass_price=1_600_000),
            "vi",
            "Ô tô đến 9 chỗ: 25.000 ₫ / giờ cho 2 giờ đầu, 35.000 ₫ / giờ từ giờ thứ 3 đến giờ thứ 4, "
            "45.000 ₫ / giờ từ giờ thứ 5; vé tháng 1.600.000 ₫",
        ),
        (
            "car",
            ClassTariff(0, 0, hourly_blocks=[(1, 20_000), (2, 30_000), (3, 40_000)]),
            "vi",
            "Ô tô đến 9 chỗ: 20.000 ₫ cho giờ đầu, 30.000 ₫ cho giờ thứ 2, 40.000 ₫ / giờ từ giờ thứ 3",
        ),
        ("car", ClassTariff(0, 0, hourly_blocks=[(1, 25_000)]), "vi", "Ô tô đến 9 chỗ: 25.000 ₫ / giờ"),
        (
            "car",
            ClassTariff(0, 0, hourly_blocks=CAR_BLOCKS),
            "en",
            "Car up to 9 seats: 25.000 ₫ an hour for the first 2 hours, "
            "35.000 ₫ an hour from hour 3 to hour 4, 45.000 ₫ an hour from hour 5 on",
        ),
    ],
)
def test_a_tariff_reads_as_a_sentence(vehicle_class, prices, lang, sentence):
    from parking.tariffs import describe_tariff

    assert describe_tariff(vehicle_class, prices, lang) == sentence


def test_the_overnight_sentence_shows_the_rounded_price_the_quote_charges():
    from parking.tariffs import describe_tariff

    prices = ClassTariff(5_000, 8_333, overnight_multiplier=Decimal("1.5"))
    assert f"{prices.overnight_price:,}".replace(",", ".") == "12.500"
    assert "12.500 ₫ thay cho lượt đêm" in describe_tariff("motorbike", prices)
