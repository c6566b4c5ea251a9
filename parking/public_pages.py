"""The public lot search page: no login, Vietnamese first, made for a phone. Without JavaScript it is a plain
GET form searched on the server (by ward, class, free spaces); with it, "near me" asks the browser for its
position and reads the public search API."""

from __future__ import annotations

from aiohttp import web

from core.api import PUBLIC, Routes
from core.appkeys import POOL
from core.auth import current_principal
from core.i18n import request_language, translate
from core.pages import render_html
from parking import messages  # noqa: F401 (the texts its pages show)
from parking.lots import search_lots, wards
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-public",))
CLASS_ORDER = CLASSES_MOST_COMMON_FIRST
RADII_M = (500, 1000, 2000, 5000)
MAX_RESULTS = 100

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
