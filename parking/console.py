"""The attendant console: two server-rendered pages for a phone at the lot (pick a lot, then work it).
Every action on the lot screen calls the parking JSON API from the browser, so the rules live in one place."""

from __future__ import annotations

from aiohttp import web

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.errors import Forbidden
from core.i18n import request_language, translate
from core.pages import render_html
from parking.messages import CONSOLE_JS_MESSAGES
from parking.sessions import ensure_attendant_of
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-console",))
CONSOLE = staff("attendant", "admin")
VEHICLE_CLASSES = CLASSES_MOST_COMMON_FIRST  # the order of the buttons
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"


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
                  (SELECT count(*) FROM parking_sessions s
                    WHERE s.lot_id = l.id AND s.status IN ('inside', 'awaiting_payment')) AS inside
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
    lang = request_language(request)
    default_class = next((c for c in VEHICLE_CLASSES if c in takes), None)
    config = {
        "lang": lang,
        "default_class": default_class,
        "api": f"/api/v1/parking/lots/{lot_id}",
        "classes": {c: translate(f"console.class.{c}", lang) for c in VEHICLE_CLASSES},
        "labels": {k: translate(f"console.js.{k}", lang) for k in CONSOLE_JS_MESSAGES},
    }
    classes = [{"code": c, "takes": c in takes} for c in VEHICLE_CLASSES]
    return render_html(
        request, "parking/console.html", lot=lot, classes=classes, default_class=default_class, config=config
    )
