"""Demo parking data: public lots in Hà Nội (coordinates from public maps, rounded), two tariff zones with
prices in the range of the city's published parking fees, and the demo attendant bound to every lot."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.settings import Settings
from core.staff import staff_by_username

ZONES = [
    ("hn-noi-do", "Khu vực nội đô lịch sử", "Historic inner city"),
    ("hn-ngoai-vi", "Khu vực còn lại", "Other areas"),
]
# (id, name, address, ward, lat, lon, zone, opens, closes, {class: capacity})
LOTS = [
    (
        "hk-hang-dau",
        "Bãi xe Hàng Đầu",
        "Phố Hàng Đầu",
        "Phường Hoàn Kiếm",
        21.0386,
        105.8507,
        "hn-noi-do",
        None,
        None,
        {"motorbike": 300, "car": 40, "bicycle": 30},
    ),
    (
        "hk-tran-nhat-duat",
        "Bãi xe Trần Nhật Duật",
        "Phố Trần Nhật Duật",
        "Phường Hoàn Kiếm",
        21.0369,
        105.8527,
        "hn-noi-do",
        None,
        None,
        {"motorbike": 200, "car": 60},
    ),
    (
        "hk-nha-hat-lon",
        "Bãi xe Nhà hát Lớn",
        "Phố Tràng Tiền",
        "Phường Cửa Nam",
        21.0243,
        105.8576,
        "hn-noi-do",
        "06:00",
        "23:00",
        {"motorbike": 150, "car": 20},
    ),
    (
        "bd-van-mieu",
        "Bãi xe Văn Miếu",
        "Phố Quốc Tử Giám",
        "Phường Văn Miếu - Quốc Tử Giám",
        21.0279,
        105.8357,
        "hn-noi-do",
        "06:00",
        "22:00",
        {"motorbike": 250, "car": 30, "large_car": 10},
    ),
    (
        "bd-quang-truong",
        "Bãi xe Quảng trường Ba Đình",
        "Phố Hùng Vương",
        "Phường Ba Đình",
        21.0368,
        105.8349,
        "hn-noi-do",
        None,
        None,
        {"motorbike": 200, "car": 80, "large_car": 20},
    ),
    (
        "hbt-thong-nhat",
        "Bãi xe Công viên Thống Nhất",
        "Phố Trần Nhân Tông",
        "Phường Hai Bà Trưng",
        21.0158,
        105.8440,
        "hn-noi-do",
        None,
        None,
        {"motorbike": 400, "car": 50, "bicycle": 50},
    ),
    (
        "cg-cong-vien",
        "Bãi xe Công viên Cầu Giấy",
        "Phố Thọ Tháp",
        "Phường Cầu Giấy",
        21.0301,
        105.7935,
        "hn-ngoai-vi",
        None,
        None,
        {"motorbike": 350, "car": 70},
    ),
    (
        "th-trich-sai",
        "Bãi xe Trích Sài",
        "Phố Trích Sài",
        "Phường Tây Hồ",
        21.0515,
        105.8113,
        "hn-ngoai-vi",
        None,
        None,
        {"motorbike": 120, "car": 25, "bicycle": 40},
    ),
    (
        "tx-khuat-duy-tien",
        "Bãi xe Khuất Duy Tiến",
        "Đường Khuất Duy Tiến",
        "Phường Thanh Xuân",
        21.0008,
        105.7988,
        "hn-ngoai-vi",
        None,
        None,
        {"motorbike": 300, "car": 120, "large_car": 30},
    ),
    (
        "tl-my-dinh",
        "Bãi xe Sân vận động Mỹ Đình",
        "Đường Lê Đức Thọ",
        "Phường Từ Liêm",
        21.0205,
        105.7639,
        "hn-ngoai-vi",
        None,
        None,
        {"motorbike": 800, "car": 300, "large_car": 60},
    ),
]
# (zone, class, day turn, night turn, hourly blocks, overnight multiplier, monthly pass)
TARIFFS = [
    ("hn-noi-do", "bicycle", 3_000, 5_000, [], "2", 60_000),
    ("hn-noi-do", "motorbike", 5_000, 8_000, [], "2", 150_000),
    ("hn-noi-do", "car", 0, 0, [[1, 25_000], [3, 35_000], [5, 45_000]], None, 2_000_000),
    ("hn-noi-do", "large_car", 0, 0, [[1, 35_000], [3, 45_000], [5, 55_000]], None, 3_000_000),
    ("hn-ngoai-vi", "bicycle", 2_000, 3_000, [], "2", 40_000),
    ("hn-ngoai-vi", "motorbike", 4_000, 6_000, [], "2", 100_000),
    ("hn-ngoai-vi", "car", 0, 0, [[1, 20_000], [3, 30_000], [5, 40_000]], None, 1_500_000),
    ("hn-ngoai-vi", "large_car", 0, 0, [[1, 30_000], [3, 40_000], [5, 50_000]], None, 2_500_000),
]
TARIFF_FROM = datetime(2025, 1, 1, tzinfo=LOCAL_TZ)  # midnight in Hà Nội: shows as the date alone


async def load_parking_demo(conn: asyncpg.Connection, settings: Settings, keys: AppKeys) -> None:
    from datetime import time

    for code, vi, en in ZONES:
        await conn.execute(
            "INSERT INTO parking_zones (code, name_vi, name_en) VALUES ($1, $2, $3) "
            "ON CONFLICT (code) DO NOTHING",
            code,
            vi,
            en,
        )
    for lot_id, name, address, ward, lat, lon, zone, opens, closes, capacities in LOTS:
        await conn.execute(
            """INSERT INTO parking_lots (id, name, address, ward, lat, lon, zone_code, opens_at, closes_at,
                   collection_account_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'hanoi-treasury') ON CONFLICT (id) DO NOTHING""",
            lot_id,
            name,
            address,
            ward,
            lat,
            lon,
            zone,
            time.fromisoformat(opens) if opens else None,
            time.fromisoformat(closes) if closes else None,
        )
        for vehicle_class, capacity in capacities.items():
            await conn.execute(
                "INSERT INTO lot_capacities VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                lot_id,
                vehicle_class,
                capacity,
            )
        attendant = await staff_by_username(conn, "attendant")
        if attendant is not None:
            await conn.execute(
                "INSERT INTO lot_attendants VALUES ($1, $2) ON CONFLICT DO NOTHING", lot_id, attendant.id
            )
    for zone, vehicle_class, day, night, blocks, overnight, monthly in TARIFFS:
        await conn.execute(
            """INSERT INTO tariffs (zone_code, vehicle_class, effective_from, day_turn_price,
                   night_turn_price,
                   hourly_blocks, overnight_multiplier, monthly_pass_price, created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8, 'demo') ON CONFLICT DO NOTHING""",
            zone,
            vehicle_class,
            TARIFF_FROM,
            day,
            night,
            blocks,
            overnight,
            monthly,
        )
