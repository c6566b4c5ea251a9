"""vi/en texts of the split parking administration pages (lots, tariffs, passes, attendants) and the tariff
sentences of `parking.tariffs.describe_tariff`; the confirmation dialog's are in core/page_messages.py."""

from __future__ import annotations

from core import page_messages  # noqa: F401 (the page frame's texts: confirmation dialog, footer)
from core.i18n import register_messages

register_messages(
    {
        # The sub-pages and their navigation
        "padmin2.nav": ("Các trang quản lý bãi xe", "Parking administration pages"),
        "padmin2.nav.lots": ("Bãi xe", "Lots"),
        "padmin2.nav.tariffs": ("Biểu phí", "Tariffs"),
        "padmin2.nav.passes": ("Vé tháng", "Monthly passes"),
        "padmin2.nav.attendants": ("Nhân viên trông xe", "Attendants"),
        "padmin2.title.lots": ("Bãi xe", "Lots"),
        "padmin2.title.tariffs": ("Biểu phí", "Tariffs"),
        "padmin2.title.passes": ("Vé tháng", "Monthly passes"),
        "padmin2.title.attendants": ("Nhân viên trông xe", "Attendants"),
        "padmin2.in_force": ("Giá đang áp dụng", "Prices in force"),
        "padmin2.versions": ("Các phiên bản biểu phí", "Tariff versions"),
        "padmin2.prices": ("Giá", "Prices"),
        "padmin2.turn_hours": (
            "Ban ngày: 06:00–18:00; ban đêm: 18:00–06:00. Giá theo giờ: giờ chưa trọn tính một giờ.",
            "Day: 06:00–18:00; night: 18:00–06:00. Hourly prices: a started hour counts as a whole hour.",
        ),
        "padmin2.blocks": (
            "Giá theo giờ (từ giờ thứ: giá mỗi giờ; …)",
            "Hourly prices (from hour: price an hour; …)",
        ),
        "padmin2.no_tariff": ("Chưa có giá.", "No prices yet."),
        "padmin2.lot_attendants": ("Nhân viên của bãi", "Attendants of the lot"),
        "padmin2.attendant_lots": ("Tài khoản nhân viên trông xe", "Attendant accounts"),
        "padmin2.works_at": ("Trông bãi", "Works at"),
        "padmin2.no_lot": ("Chưa được phân công bãi nào.", "Not assigned to any lot."),
        "padmin2.remove": ("Bỏ phân công", "Unassign"),
        "padmin2.confirm_unassign": (
            "Bỏ phân công {user} khỏi {lot}? Nhân viên này sẽ không ghi xe vào, ra ở bãi này nữa.",
            "Unassign {user} from {lot}? They will no longer check vehicles in or out here.",
        ),
        "padmin2.pass_count": ("{count} vé tháng gần nhất", "The latest {count} passes"),
        # Refusals of the lot forms' coordinates (parking.admin.fields), naming the field as the form does
        "form.padmin_latitude": ("Vĩ độ phải từ -90 đến 90.", "The latitude lies between -90 and 90."),
        "form.padmin_longitude": (
            "Kinh độ phải từ -180 đến 180.",
            "The longitude lies between -180 and 180.",
        ),
        "form.padmin_lot_id": (
            "Mã bãi gồm chữ thường không dấu, chữ số và dấu gạch nối (2–61 ký tự), ví dụ cg-dich-vong.",
            "A lot id is lowercase letters without accents, digits and hyphens (2–61 characters), "
            "e.g. cg-dich-vong.",
        ),
        "form.padmin_zone_code": (
            "Mã khu vực gồm chữ thường không dấu, chữ số và dấu gạch nối (2–31 ký tự), ví dụ hn-tay-ho.",
            "A zone code is lowercase letters without accents, digits and hyphens (2–31 characters), "
            "e.g. hn-tay-ho.",
        ),
        "form.padmin_username": (
            "Tên đăng nhập gồm chữ thường không dấu, chữ số và . _ - (2–63 ký tự).",
            "A username is lowercase letters without accents, digits and . _ - (2–63 characters).",
        ),
        "form.padmin_blocks_format": (
            "Viết giá theo giờ dạng 1: 25.000; 3: 35.000 (từ giờ thứ: giá mỗi giờ).",
            "Write the hourly prices as 1: 25.000; 3: 35.000 (from hour: price an hour).",
        ),
        "form.padmin_vehicle_class": (
            "Chọn loại xe: Xe đạp, Xe máy, Ô tô đến 9 chỗ hoặc Ô tô trên 9 chỗ.",
            "Choose a vehicle class: bicycle, motorbike, car up to 9 seats or larger car.",
        ),
        # Tariffs as sentences (parking.tariffs.describe_tariff)
        "tariffdesc.line": ("{vehicle}: {prices}", "{vehicle}: {prices}"),
        "tariffdesc.free": ("miễn phí", "free"),
        "tariffdesc.turn_same": ("{price} / lượt, cả ngày và đêm", "{price} per turn, day or night"),
        "tariffdesc.turns": (
            "{day} / lượt ban ngày, {night} ban đêm",
            "{day} per daytime turn, {night} at night",
        ),
        "tariffdesc.day_free": (
            "miễn phí ban ngày, {night} / lượt ban đêm",
            "free by day, {night} per night turn",
        ),
        "tariffdesc.night_free": (
            "{day} / lượt ban ngày, miễn phí ban đêm",
            "{day} per daytime turn, free at night",
        ),
        "tariffdesc.overnight": (
            "gửi qua đêm (qua 0 giờ) {price} thay cho lượt đêm",
            "{price} instead of the night turn for a stay past midnight",
        ),
        "tariffdesc.per_hour": ("{price} / giờ", "{price} an hour"),
        "tariffdesc.first_hour": ("{price} cho giờ đầu", "{price} for the first hour"),
        "tariffdesc.first_hours": (
            "{price} / giờ cho {hours} giờ đầu",
            "{price} an hour for the first {hours} hours",
        ),
        "tariffdesc.hour_n": ("{price} cho giờ thứ {first}", "{price} for hour {first}"),
        "tariffdesc.hours_range": (
            "{price} / giờ từ giờ thứ {first} đến giờ thứ {last}",
            "{price} an hour from hour {first} to hour {last}",
        ),
        "tariffdesc.hours_from": ("{price} / giờ từ giờ thứ {first}", "{price} an hour from hour {first} on"),
        "tariffdesc.pass": ("vé tháng {price}", "monthly pass {price}"),
    }
)
