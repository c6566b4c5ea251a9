"""The public lot search page: no login, Vietnamese first, made for a phone (issue 12, point 11).

The first screen is results: every lot that takes the chosen vehicle class, open ones first, each with "Đang
mở"/"Đã đóng" now (Hà Nội time) and its hours, the price of that class in force now and its free spaces; the
form above is one row (the class, "Bãi gần tôi") with the ward and free-space filters folded away. The class
is remembered in a cookie. Without JavaScript it is a plain GET form searched on the server; with it, "near
me" asks the browser for its position and reads /parking/results, which paints the same cards (one template)
nearest first. A small Leaflet map (vendored, OpenStreetMap tiles when online) follows the list and never
holds it up. An unknown ward or class is refused with a catalogue sentence: the page again with a 422, or
problem+json from /parking/results."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.api import PUBLIC, Routes
from core.appkeys import CLOCK, POOL, TEMPLATES
from core.auth import current_principal
from core.errors import ValidationFailed
from core.i18n import request_language, translate
from core.money import format_vnd
from core.pages import render_html
from core.static import static_url
from core.text import clean_text
from parking import messages  # noqa: F401 (the texts its pages show)
from parking.lots import Price, resolve_ward, search_lot_cards, wards
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-public",))
CLASS_ORDER: tuple[str, ...] = tuple(str(c) for c in CLASSES_MOST_COMMON_FIRST)
DEFAULT_CLASS = CLASS_ORDER[0]  # xe máy: most of Hà Nội's vehicles
CLASS_COOKIE = "lot_class"
NEAR_RADIUS_M = 10_000
NEAR_LIMIT = 20
MAX_RESULTS = 100
MAP_CSP = {"img-src": "https://tile.openstreetmap.org"}
LEAFLET = "parking/vendor/leaflet-1.9.4"

_JS_KEYS = (
    "locating",
    "loading",
    "loading_list",
    "geo_denied",
    "geo_unavailable",
    "geo_unsupported",
    "load_failed",
    "map_offline",
    "show_all",
)


def format_distance(metres: int | None) -> str | None:
    """350 → '350 m', 1234 → '1,2 km' (Vietnamese decimal comma)."""
    if metres is None:
        return None
    if metres < 1000:
        return f"{metres} m"
    return f"{metres / 1000:.1f}".replace(".", ",") + " km"


def price_parts(price: Price | None, lang: str) -> list[str]:
    """A class's price as short parts a line may break between: ["5.000 ₫/lượt ban ngày", "8.000 ₫/lượt ban
    đêm"], or by the hour ["25.000 ₫/giờ", "từ giờ thứ 3: 35.000 ₫/giờ"]."""
    if price is None:
        return [translate("lotsearch.price_none", lang)]
    if price.hourly_blocks:
        (_, first), *later = price.hourly_blocks
        return [translate("lotsearch.price_hour", lang, price=format_vnd(first))] + [
            translate("lotsearch.price_from_hour", lang, n=n, price=format_vnd(p)) for n, p in later
        ]
    if price.day_turn == price.night_turn:
        return [translate("lotsearch.price_turn", lang, price=format_vnd(price.day_turn))]
    return [
        translate("lotsearch.price_day", lang, price=format_vnd(price.day_turn)),
        translate("lotsearch.price_night", lang, price=format_vnd(price.night_turn)),
    ]


def price_text(price: Price | None, lang: str) -> str:
    """The parts in one line: "5.000 ₫/lượt ban ngày, 8.000 ₫/lượt ban đêm"."""
    return ", ".join(price_parts(price, lang))


def _hours(card: dict, lang: str) -> str:
    return translate("psearch.all_day", lang) if card["all_day"] else card["opening_hours"]


class _Query:
    """What the page and /parking/results read from the query string, with a sentence for each refusal."""

    def __init__(self) -> None:
        self.vehicle_class = DEFAULT_CLASS
        self.class_given = False
        self.ward: str | None = None
        self.ward_text = ""
        self.available = False
        self.near: tuple[float, float] | None = None
        self.errors: dict[str, str] = {}  # field → message key


def _one(request: web.Request, name: str) -> str:
    values = request.query.getall(name, [])
    if not values:
        return ""
    try:
        return clean_text(values[-1]).strip()
    except ValueError:  # hidden or control characters: nothing a person chose from our lists
        return "\x00"


async def _read_query(request: web.Request, conn: Any) -> _Query:
    q = _Query()
    remembered = request.cookies.get(CLASS_COOKIE)
    if remembered in CLASS_ORDER:
        q.vehicle_class = remembered
    chosen = _one(request, "vehicle_class")
    if chosen in CLASS_ORDER:
        q.vehicle_class, q.class_given = chosen, True
    elif chosen:
        q.errors["vehicle_class"] = "lotsearch.unknown_class"
    q.available = _one(request, "available") in ("1", "on", "true")
    ward = _one(request, "ward")
    if ward:
        q.ward_text = ward[:100]
        try:
            q.ward = await resolve_ward(conn, ward[:200])
        except ValidationFailed:
            q.errors["ward"] = "lotsearch.unknown_ward"
    near = _one(request, "near")
    if near:
        try:
            lat, lon = (float(x) for x in near.split(","))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(near)
            q.near = (lat, lon)
        except ValueError:
            q.errors["near"] = "lotsearch.bad_position"
    return q


def _remember(resp: web.Response, q: _Query) -> web.Response:
    if q.class_given:
        resp.set_cookie(
            CLASS_COOKIE, q.vehicle_class, max_age=365 * 24 * 3600, path="/parking", samesite="Lax"
        )
    return resp


def _cards_context(cards: list[dict], q: _Query, lang: str) -> dict[str, Any]:
    for card in cards:
        card["hours"] = _hours(card, lang)
        card["price_parts"] = price_parts(card["price"], lang)
        card["distance_text"] = format_distance(card["distance_m"])
    return {
        "lots": cards,
        "vehicle_class": q.vehicle_class,
        "t": lambda key, **kw: translate(key, lang, **kw),
    }


@routes.get("/parking", access=PUBLIC, summary="Find a parking lot", in_openapi=False, produces="text/html")
async def lot_search_page(request: web.Request) -> web.Response:
    await current_principal(request)  # the header shows the staff name when someone is logged in
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        q = await _read_query(request, conn)
        q.errors.pop("near", None)  # only /parking/results reads a position
        ward_list = await wards(conn)
        cards = await search_lot_cards(
            conn,
            now=request.app[CLOCK].now(),
            vehicle_class=q.vehicle_class,
            available=q.available,
            ward=q.ward,
            limit=MAX_RESULTS,
        )
    config = {
        "results": "/parking/results",
        "labels": {k: translate(f"lotsearch.{k}", lang) for k in _JS_KEYS},
        "marker": {
            "icon": static_url(f"{LEAFLET}/marker-icon.png"),
            "icon2x": static_url(f"{LEAFLET}/marker-icon-2x.png"),
            "shadow": static_url(f"{LEAFLET}/marker-shadow.png"),
        },
        "attribution": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
        "tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    }
    resp = render_html(
        request,
        "parking/lot_search.html",
        status=422 if q.errors else 200,
        csp_extra=MAP_CSP,
        **_cards_context(cards, q, lang),
        wards=ward_list,
        ward=q.ward,
        ward_text=q.ward_text,
        available=q.available,
        classes=CLASS_ORDER,
        errors={field: translate(key, lang) for field, key in q.errors.items()},
        summary=translate("lotsearch.all_lots", lang, n=len(cards)),
        config=config,
        leaflet=LEAFLET,
    )
    return _remember(resp, q)


@routes.get(
    "/parking/results",
    access=PUBLIC,
    summary="The lot search page's results (near a point, for a class), painted as the page paints them",
    in_openapi=False,
)
async def lot_search_results(request: web.Request) -> web.Response:
    """JSON for the page's script: the cards' HTML (the page's own template), how many, and the sentence
    above them. Refusals are problem+json with a catalogue sentence in `message`."""
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        q = await _read_query(request, conn)
        if q.errors:
            field, key = next(iter(q.errors.items()))
            raise ValidationFailed(f"{field}: not accepted", field=field, message=key)
        lat, lon = q.near if q.near else (None, None)
        cards = await search_lot_cards(
            conn,
            now=request.app[CLOCK].now(),
            vehicle_class=q.vehicle_class,
            lat=lat,
            lon=lon,
            radius_m=NEAR_RADIUS_M if q.near else None,
            available=q.available,
            ward=q.ward,
            limit=NEAR_LIMIT if q.near else MAX_RESULTS,
        )
    ctx = _cards_context(cards, q, lang)
    html = request.app[TEMPLATES].get_template("parking/lot_search_cards.html").render(ctx)
    if q.near:
        summary = (
            translate("lotsearch.near_results", lang, n=len(cards))
            if cards
            else translate("lotsearch.near_none", lang, d=format_distance(NEAR_RADIUS_M))
        )
    else:
        summary = translate("lotsearch.all_lots", lang, n=len(cards))
    resp = web.json_response(
        {"count": len(cards), "summary": summary, "html": html, "near": q.near is not None}
    )
    resp.headers["Cache-Control"] = "no-store"
    return _remember(resp, q)
