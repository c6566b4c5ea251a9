"""The attendant console: two server-rendered pages for a phone at the lot (pick a lot, then work it).
Every action on the lot screen calls the parking JSON API from the browser, so the rules live in one place."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.errors import Forbidden
from core.i18n import request_language, translate
from core.pages import render_html
from parking.console_messages import CONSOLE_JS_MORE, WINDOW_MINUTES
from parking.messages import CONSOLE_JS_MESSAGES
from parking.plate_scan import PLATE_SCAN_CSP
from parking.plates import SERIES_LETTERS
from parking.sessions import ensure_attendant_of
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-console",))
CONSOLE = staff("attendant", "admin")
VEHICLE_CLASSES = CLASSES_MOST_COMMON_FIRST  # the order of the buttons
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"
# The plate keypad's letters: those series use (parking.plates), and Đ (MĐ, TĐ); its quick keys: the plate
# starts most common in the lot's recent turns (province and series: one tap for "30A" or "29-B1"), then
# province codes, padded with Hà Nội's.
KEYPAD_LETTERS = "".join(sorted(SERIES_LETTERS)) + "Đ"
QUICK_KEYS = 5
HANOI_PROVINCES = ("29", "30", "31", "32", "33", "40")
_RECENT_TURNS = 500


def _staff_only(request: web.Request):
    principal = principal_of(request)
    if principal.kind != "staff":
        raise Forbidden("the console needs a staff login")
    return principal


@routes.get(
    "/parking/console",
    access=CONSOLE,
    summary="Attendant console: choose a lot",
    in_openapi=False,
    produces="text/html",
)
async def console_lots(request: web.Request) -> web.Response:
    principal = _staff_only(request)
    # Admins may work any lot; an attendant only the lots they are bound to.
    lots = await request.app[POOL].fetch(
        """SELECT l.id, l.name, l.address,
                  (SELECT coalesce(sum(c.inside), 0) FROM lot_capacities c  -- kept counts (0029)
                    WHERE c.lot_id = l.id) AS inside
             FROM parking_lots l
            WHERE l.active AND ($1 OR EXISTS (SELECT 1 FROM lot_attendants a
                                               WHERE a.lot_id = l.id AND a.staff_user_id = $2))
            ORDER BY l.name""",
        principal.role == "admin",
        principal.id,
    )
    return render_html(request, "parking/console_lots.html", lots=lots)


@routes.get(
    f"/parking/console/{_LOT}",
    access=CONSOLE,
    summary="Attendant console for one lot",
    in_openapi=False,
    produces="text/html",
)
async def console_lot(request: web.Request) -> web.Response:
    principal = _staff_only(request)
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal)
        lot = await conn.fetchrow("SELECT id, name, address FROM parking_lots WHERE id = $1", lot_id)
        takes = {
            r["vehicle_class"]
            for r in await conn.fetch(
                "SELECT vehicle_class FROM lot_capacities WHERE lot_id = $1 AND capacity > 0", lot_id
            )
        }
        recent = await conn.fetch(
            """SELECT vehicle_class, plate, plate_written FROM parking_sessions
                WHERE lot_id = $1 AND plate ~ '^[0-9]{2}' ORDER BY entered_at DESC LIMIT $2""",
            lot_id,
            _RECENT_TURNS,
        )
    lang = request_language(request)
    default_class = next((c for c in VEHICLE_CLASSES if c in takes), None)
    labels = {k: translate(f"console.js.{k}", lang) for k in CONSOLE_JS_MESSAGES}
    labels.update({k: translate(f"console.js.{k}", lang) for k in CONSOLE_JS_MORE})
    config = {
        "lang": lang,
        "lot": lot_id,
        "default_class": default_class,
        "admin": principal.role == "admin",
        "api": f"/api/v1/parking/lots/{lot_id}",
        "void_api": "/api/v1/parking/sessions/",
        "classes": {c: translate(f"console.class.{c}", lang) for c in VEHICLE_CLASSES},
        "labels": labels,
        "quick": quick_keys(recent),
        "window_minutes": WINDOW_MINUTES,
    }
    classes = [{"code": c, "takes": c in takes} for c in VEHICLE_CLASSES]
    return render_html(
        request,
        "parking/console.html",
        csp_extra=PLATE_SCAN_CSP,
        lot=lot,
        classes=classes,
        default_class=default_class,
        config=config,
        letters=KEYPAD_LETTERS,
    )


def _prefix(plate: str, written: str) -> str | None:
    """The province and series of a written plate: "30A-123.45" → "30A", "29-B1 123.45" → "29B1"."""
    head = written.split(" ")[0] if " " in written else written.split("-")[0]
    compact = head.replace("-", "")
    return compact if plate.startswith(compact) and 3 <= len(compact) <= 4 else None


def quick_keys(recent) -> dict[str, list[str]]:
    """Per vehicle class: the two commonest plate starts of the lot's recent turns of that class, then the
    commonest province codes (padded with Hà Nội's), QUICK_KEYS in all, in a stable order."""
    provinces: Counter[str] = Counter(r["plate"][:2] for r in recent)
    seen = [p for p, _ in provinces.most_common()]
    ordered = seen + [p for p in HANOI_PROVINCES if p not in seen]
    out: dict[str, list[str]] = {}
    for vehicle_class in VEHICLE_CLASSES:
        starts: Counter[str] = Counter()
        for r in recent:
            if r["vehicle_class"] == vehicle_class:
                prefix = _prefix(r["plate"], r["plate_written"])
                if prefix:
                    starts[prefix] += 1
        top = sorted(p for p, _ in starts.most_common(2))
        out[vehicle_class] = top + sorted(ordered[: QUICK_KEYS - len(top)])
    return out
