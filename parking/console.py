"""The attendant console: two server-rendered pages for a phone at the lot (pick a lot, then work it).
Every action on the lot screen calls the parking JSON API from the browser, so the rules live in one place."""

from __future__ import annotations

from aiohttp import web

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.errors import Forbidden
from core.i18n import register_messages, request_language, translate
from core.pages import render_html
from parking.sessions import ensure_attendant_of
from parking.vocabulary import CLASSES_MOST_COMMON_FIRST

routes = Routes(tags=("parking-console",))
CONSOLE = staff("attendant", "admin")
VEHICLE_CLASSES = CLASSES_MOST_COMMON_FIRST  # the order of the buttons
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"

register_messages(
    {
        "link.parking_console": ("Bàn trông xe", "Attendant console"),
        "console.title": ("Bàn trông xe", "Attendant console"),
        "console.pick_lot": ("Chọn bãi xe", "Choose a lot"),
        "console.no_lots": (
            "Bạn chưa được phân công bãi xe nào. Hãy liên hệ quản trị.",
            "You are not assigned to any lot yet. Ask an administrator.",
        ),
        "console.inside_count": ("{n} xe trong bãi", "{n} vehicles inside"),
        "console.other_lot": ("Đổi bãi", "Other lot"),
        "console.plate": ("Biển số", "Plate"),
        "console.plate_hint": ("VD: 30A-123.45 hoặc 29-B1 123.45", "e.g. 30A-123.45 or 29-B1 123.45"),
        "console.class": ("Loại xe", "Vehicle class"),
        "console.class.bicycle": ("Xe đạp", "Bicycle"),
        "console.class.motorbike": ("Xe máy", "Motorbike"),
        "console.class.car": ("Ô tô", "Car"),
        "console.class.large_car": ("Xe lớn", "Large car"),
        "console.class_note.car": ("đến 9 chỗ", "up to 9 seats"),
        "console.class_note.large_car": ("trên 9 chỗ", "over 9 seats"),
        "console.class_none": ("Bãi không nhận loại xe này", "This lot takes no such vehicle"),
        "console.check_in": ("Xe vào", "Check in"),
        "console.check_out": ("Xe ra", "Check out"),
        "console.override_reason": ("Lý do chấp nhận biển số này", "Why accept this plate"),
        "console.override_hint": (
            "Biển số không theo quy định. Kiểm tra lại; nếu đúng, ghi lý do (ít nhất 5 ký tự) "
            "rồi bấm Xe vào.",
            "The plate fits no rule. Check it; if it is right, give a reason (5+ characters) "
            "and tap Check in.",
        ),
        "console.suggestions": ("Có phải xe này?", "Did you mean?"),
        "console.inside": ("Xe trong bãi", "Vehicles inside"),
        "console.refresh": ("Làm mới", "Refresh"),
        "console.scan": ("Quét mã bằng ứng dụng ngân hàng", "Scan with any banking app"),
        "console.reference": ("Mã thanh toán", "Reference"),
        "console.cash": ("Thu tiền mặt (ngoại lệ)", "Cash (exception)"),
        "console.cash_reason": ("Lý do thu tiền mặt (ít nhất 5 ký tự)", "Why cash (5+ characters)"),
        "console.cash_confirm": ("Xác nhận đã thu tiền mặt", "Confirm cash taken"),
        "console.new_qr": ("Tạo mã mới", "New code"),
        "console.close": ("Đóng", "Close"),
    }
)

# What the page's script says; handed to it as JSON in the page's language.
JS_MESSAGES: dict[str, tuple[str, str]] = {
    "plate_empty": ("Nhập biển số trước.", "Type the plate first."),
    "reason_short": ("Lý do cần ít nhất 5 ký tự.", "The reason needs at least 5 characters."),
    "checked_in": ("Đã nhận xe {plate} ({cls}).", "Checked in {plate} ({cls})."),
    "closed.pass": ("Xe {plate} ra — vé tháng, không thu phí.", "{plate} out — monthly pass, nothing due."),
    "closed.free": ("Xe {plate} ra — miễn phí.", "{plate} out — free of charge."),
    "closed.paid": ("Xe {plate} ra — đã thanh toán.", "{plate} out — paid."),
    "closed.cash": ("Xe {plate} ra — đã thu tiền mặt.", "{plate} out — cash taken."),
    "pick_suggestion": ("Chạm vào xe đúng để cho ra.", "Tap the right vehicle to check it out."),
    # The one question asked when the plate as typed is another class's plate (30A-123.45 with "Xe máy").
    "plate_is": ("Biển {plate} là biển {kind}.", "{plate} is a {kind} plate."),
    "which": ("Xe này là {options}?", "Is this vehicle {options}?"),
    "take_as": ("Vẫn nhận xe này là {option}?", "Check it in as {option} anyway?"),
    "or": (" hay ", " or "),
    "as_typed": ("đúng như đã nhập", "as typed"),
    "reads_as": ("đọc thành {plate}", "the plate becomes {plate}"),
    "noun.motorbike": ("xe máy", "motorbike"),
    "noun.car": ("ô tô", "car"),
    "noun.large_car": ("ô tô", "car"),  # large cars carry car plates
    "noun.bicycle": ("xe đạp", "bicycle"),
    "one.motorbike": ("xe máy", "a motorbike"),
    "one.car": ("ô tô", "a car"),
    "one.large_car": ("xe lớn (trên 9 chỗ)", "a large car (over 9 seats)"),
    "one.bicycle": ("xe đạp", "a bicycle"),
    "network": ("Mất kết nối. Thử lại.", "No connection. Try again."),
    "entered": ("Vào lúc", "In at"),
    "awaiting": ("Chờ thanh toán", "Awaiting payment"),
    "inside_empty": ("Chưa có xe nào trong bãi.", "No vehicles inside."),
    "status.pending": ("CHỜ THANH TOÁN", "WAITING FOR PAYMENT"),
    "status.partial": ("ĐÃ NHẬN MỘT PHẦN", "PARTLY PAID"),
    "status.paid": ("ĐÃ THANH TOÁN", "PAID"),
    "status.expired": ("MÃ ĐÃ HẾT HẠN", "CODE EXPIRED"),
    "status.cancelled": ("ĐÃ HỦY", "CANCELLED"),
    "status.cash": ("ĐÃ THU TIỀN MẶT", "CASH TAKEN"),
    "qr_alt": ("Mã VietQR thanh toán {amount}", "VietQR code to pay {amount}"),
    "line.day_turn": ("Lượt ngày (06:00–18:00)", "Day turn (06:00–18:00)"),
    "line.night_turn": ("Lượt đêm (18:00–06:00)", "Night turn (18:00–06:00)"),
    "line.overnight": ("Qua đêm", "Overnight"),
    "line.pass": ("Vé tháng", "Monthly pass"),
    "line.hours": ("Giờ", "Hours"),
}
register_messages({f"console.js.{k}": v for k, v in JS_MESSAGES.items()})


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
        "labels": {k: translate(f"console.js.{k}", lang) for k in JS_MESSAGES},
    }
    classes = [{"code": c, "takes": c in takes} for c in VEHICLE_CLASSES]
    return render_html(
        request, "parking/console.html", lot=lot, classes=classes, default_class=default_class, config=config
    )
