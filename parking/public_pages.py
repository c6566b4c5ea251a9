"""The public lot search page: no login, Vietnamese first, made for a phone. Without JavaScript it is a plain
GET form searched on the server (by ward, class, free spaces); with it, "near me" asks the browser for its
position and reads the public search API."""

from __future__ import annotations

from aiohttp import web

from core.api import PUBLIC, Routes
from core.appkeys import POOL
from core.auth import current_principal
from core.i18n import register_messages, request_language, translate
from core.pages import render_html
from parking.lots import search_lots, wards
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-public",))
CLASS_ORDER = CLASSES_MOST_COMMON_FIRST
RADII_M = (500, 1000, 2000, 5000)
MAX_RESULTS = 100

register_messages(
    {
        "link.parking_search": ("Tìm bãi gửi xe còn chỗ", "Find a parking lot with free spaces"),
        "psearch.title": ("Tìm bãi gửi xe", "Find a parking lot"),
        "psearch.intro": (
            "Các bãi xe công cộng thu phí không dùng tiền mặt: quét mã VietQR khi lấy xe.",
            "Public lots that take cashless payment: scan the VietQR code when you leave.",
        ),
        "psearch.ward": ("Phường", "Ward"),
        "psearch.ward_all": ("Tất cả các phường", "All wards"),
        "psearch.class": ("Loại xe", "Vehicle"),
        "psearch.class_all": ("Mọi loại xe", "Any vehicle"),
        "psearch.available": ("Chỉ bãi còn chỗ", "Only lots with free spaces"),
        "psearch.search": ("Tìm", "Search"),
        "psearch.near_me": ("Bãi gần tôi", "Lots near me"),
        "psearch.radius": ("Trong bán kính", "Within"),
        "psearch.locating": ("Đang xác định vị trí…", "Finding where you are…"),
        "psearch.no_geo": (
            "Không lấy được vị trí. Hãy cho phép trình duyệt dùng vị trí, hoặc tìm theo phường.",
            "Could not get your position. Allow location in the browser, or search by ward.",
        ),
        "psearch.failed": ("Không tải được kết quả. Thử lại.", "Could not load results. Try again."),
        "psearch.results": ("{n} bãi xe", "{n} lots"),
        "psearch.none": ("Không có bãi xe phù hợp.", "No lot matches."),
        "psearch.free_of": ("{free}/{capacity} chỗ trống", "{free}/{capacity} free"),
        "psearch.full": ("hết chỗ", "full"),
        "psearch.hours": ("Giờ mở cửa", "Opening hours"),
        "psearch.all_day": ("Cả ngày đêm", "Day and night"),
        "psearch.distance": ("Cách {d}", "{d} away"),
        "psearch.map": ("Xem bản đồ", "Map"),
        "psearch.class.bicycle": ("Xe đạp", "Bicycle"),
        "psearch.class.motorbike": ("Xe máy", "Motorbike"),
        "psearch.class.car": ("Ô tô đến 9 chỗ", "Car up to 9 seats"),
        "psearch.class.large_car": ("Ô tô trên 9 chỗ", "Larger car"),
    }
)
_JS_KEYS = ("locating", "no_geo", "failed", "none", "full", "hours", "all_day", "map", "free_of", "distance")


def format_distance(metres: int | None) -> str | None:
    """350 → '350 m', 1234 → '1,2 km' (Vietnamese decimal comma)."""
    if metres is None:
        return None
    if metres < 1000:
        return f"{metres} m"
    return f"{metres / 1000:.1f}".replace(".", ",") + " km"


@routes.get("/parking", access=PUBLIC, summary="Find a parking lot", in_openapi=False, produces="text/html")
async def lot_search_page(request: web.Request) -> web.Response:
    await current_principal(request)  # the header shows the staff name when someone is logged in
    q = request.query
    ward = (q.get("ward") or "").strip()[:100] or None
    vehicle_class = q.get("vehicle_class") if q.get("vehicle_class") in CLASS_ORDER else None
    available = q.get("available") in ("1", "on", "true")
    async with request.app[POOL].acquire() as conn:
        ward_list = await wards(conn)
        if ward is not None and ward not in ward_list:
            ward = None  # an old bookmark or a typo: show every ward rather than nothing
        lots = await search_lots(
            conn,
            lat=None,
            lon=None,
            radius_m=None,
            vehicle_class=vehicle_class,
            available=available,
            ward=ward,
            limit=MAX_RESULTS,
        )
    lang = request_language(request)
    config = {
        "classes": [[c, translate(f"psearch.class.{c}", lang)] for c in CLASS_ORDER],  # tojson sorts keys
        "labels": {k: translate(f"psearch.{k}", lang) for k in _JS_KEYS}
        | {"results": translate("psearch.results", lang, n="{n}")},
        "api": "/api/v1/parking/lots",  # the public search API (fixed in the public contract)
    }
    return render_html(
        request,
        "parking/lot_search.html",
        lots=lots,
        wards=ward_list,
        ward=ward,
        vehicle_class=vehicle_class,
        available=available,
        classes=CLASS_ORDER,
        radii=RADII_M,
        config=config,
        distance=format_distance,
    )
