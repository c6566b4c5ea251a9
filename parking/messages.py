"""Parking's vi/en texts: one table for the package (core.i18n.register_messages)."""

from __future__ import annotations

from core.i18n import register_messages

# Administration: lots, tariffs, passes, attendants (parking/admin/)
register_messages(
    {
        "link.parking_admin": ("Bãi xe, biểu phí, vé tháng", "Lots, tariffs, passes"),
        "padmin.title": ("Quản lý bãi xe", "Parking administration"),
        "padmin.saved": ("Đã lưu.", "Saved."),
        "padmin.lot_id": ("Mã bãi", "Lot id"),
        "padmin.name": ("Tên", "Name"),
        "padmin.address": ("Địa chỉ", "Address"),
        "padmin.ward": ("Phường", "Ward"),
        "padmin.lat": ("Vĩ độ", "Latitude"),
        "padmin.lon": ("Kinh độ", "Longitude"),
        "padmin.zone": ("Khu vực giá", "Tariff zone"),
        "padmin.opens_at": ("Mở cửa (để trống: cả ngày đêm)", "Opens (empty: day and night)"),
        "padmin.closes_at": ("Đóng cửa", "Closes"),
        "padmin.all_day": ("Cả ngày đêm", "Day and night"),
        "padmin.collection_account": ("Tài khoản thu", "Collection account"),
        "padmin.active": ("Đang hoạt động", "Active"),
        "padmin.inactive": ("Ngừng hoạt động", "Inactive"),
        "padmin.capacities": ("Sức chứa (đang gửi)", "Capacity (inside)"),
        "padmin.capacity": ("Sức chứa", "Capacity"),
        "padmin.set_capacity": ("Đặt sức chứa", "Set capacity"),
        "padmin.attendants": ("Nhân viên trông xe", "Attendants"),
        "padmin.assign": ("Phân công", "Assign"),
        "padmin.unassign": ("Bỏ phân công", "Unassign"),
        "padmin.username": ("Tên đăng nhập", "Username"),
        "padmin.edit": ("Sửa thông tin bãi", "Edit lot"),
        "padmin.manage": ("Sức chứa, nhân viên, thông tin bãi", "Capacity, attendants, lot details"),
        "padmin.create_lot": ("Thêm bãi xe", "Add a lot"),
        "padmin.save": ("Lưu", "Save"),
        "padmin.zones": ("Khu vực giá", "Tariff zones"),
        "padmin.create_zone": ("Thêm khu vực giá", "Add a tariff zone"),
        "padmin.code": ("Mã", "Code"),
        "padmin.name_vi": ("Tên tiếng Việt", "Vietnamese name"),
        "padmin.name_en": ("Tên tiếng Anh", "English name"),
        "padmin.tariff_note": (
            "Phiên bản không sửa được; phiên bản mới thay thế từ thời điểm hiệu lực của nó.",
            "Versions are never edited; a new version takes over from its effective time.",
        ),
        "padmin.class": ("Loại xe", "Vehicle class"),
        "padmin.effective_from": ("Hiệu lực từ (giờ Hà Nội)", "Effective from (Hà Nội time)"),
        "padmin.day_turn": ("Giá lượt ngày", "Day turn"),
        "padmin.night_turn": ("Giá lượt đêm", "Night turn"),
        "padmin.overnight": ("Hệ số qua đêm", "Overnight multiplier"),
        "padmin.monthly": ("Giá vé tháng", "Monthly pass"),
        "padmin.state": ("Trạng thái", "State"),
        "padmin.state.in_force": ("đang áp dụng", "in force"),
        "padmin.state.scheduled": ("sắp áp dụng", "scheduled"),
        "padmin.state.superseded": ("đã thay thế", "superseded"),
        "padmin.add_tariff": ("Thêm phiên bản biểu phí", "Add a tariff version"),
        "padmin.passes": ("Vé tháng", "Monthly passes"),
        "padmin.plate": ("Biển số", "Plate"),
        "padmin.valid_from": ("Từ ngày", "From"),
        "padmin.valid_until": ("Đến ngày", "Until"),
        "padmin.price": ("Giá (đồng)", "Price (đồng)"),
        "padmin.create_pass": ("Bán vé tháng", "Sell a pass"),
        "padmin.none": ("Chưa có.", "None yet."),
        # Refusals a page shows beside the field (Problem(message=…), map_constraint(message=…))
        "padmin.err.lot_taken": ("Đã có bãi xe với mã này.", "A lot with this id exists."),
        "padmin.err.no_zone": ("Không có khu vực giá này.", "No such tariff zone."),
        "padmin.err.lot_not_empty": (
            "Còn {inside} xe trong bãi hoặc chờ thanh toán. Đặt sức chứa mọi loại xe về 0 để ngừng nhận xe, "
            "rồi ngừng hoạt động bãi khi các xe đã ra.",
            "{inside} vehicle(s) are still inside or awaiting payment. Set every capacity to 0 to stop new "
            "check-ins, then deactivate the lot once they have left.",
        ),
        "padmin.err.no_account": (
            "Không có tài khoản thu này, hoặc tài khoản không còn dùng.",
            "No such collection account in use.",
        ),
        "padmin.err.hours_pair": (
            "Nhập cả giờ mở và giờ đóng cửa, hoặc để trống cả hai (cả ngày đêm).",
            "Give both opening and closing time, or neither (day and night).",
        ),
        "padmin.err.hours_equal": (
            "Giờ mở và giờ đóng cửa trùng nhau; để trống cả hai nếu mở cả ngày đêm.",
            "Opening and closing time are equal; leave both empty for day and night.",
        ),
        "padmin.err.no_staff": (
            "Không có tài khoản nhân viên đang hoạt động với tên này.",
            "No active staff account with this username.",
        ),
        "padmin.err.not_attendant": (
            "Tài khoản này không phải nhân viên trông xe.",
            "This account is not an attendant.",
        ),
        "padmin.err.already_attendant": (
            "Nhân viên này đã được phân công ở bãi này.",
            "Already an attendant of this lot.",
        ),
        "padmin.err.zone_taken": ("Đã có khu vực giá với mã này.", "A zone with this code exists."),
        "padmin.err.tariff_same_moment": (
            "Khu vực và loại xe này đã có phiên bản hiệu lực từ đúng thời điểm này.",
            "This zone and class already have a version from this moment.",
        ),
        "padmin.err.tariff_past": (
            "Phiên bản mới chỉ có hiệu lực từ bây giờ trở đi.",
            "A new version starts now or later.",
        ),
        "padmin.err.price": ("Giá phải là số đồng nguyên, không âm.", "A price is whole đồng, not negative."),
        "padmin.err.blocks": (
            "Giá theo giờ bắt đầu từ giờ 1, mốc giờ tăng dần, giá không âm; vd. [[1, 25000], [3, 35000]].",
            "Hourly blocks start at hour 1 and rise, prices not negative; e.g. [[1, 25000], [3, 35000]].",
        ),
        "padmin.err.overnight": (
            "Hệ số qua đêm phải từ 1 trở lên, và chỉ dùng cho biểu phí theo lượt.",
            "The overnight multiplier is at least 1, and only for turn-based tariffs.",
        ),
        "padmin.err.tariff": ("Biểu phí không hợp lệ.", "The tariff is not valid."),
        "padmin.err.plate": ("Biển số không hợp lệ với loại xe này.", "Not a valid plate for this class."),
        "padmin.err.pass_class": (
            "Biển số này thuộc loại xe khác; hãy bán vé cho đúng loại xe đó.",
            "This plate is written as another class's plate; sell the pass for that class.",
        ),
        "padmin.err.pass_order": (
            "Ngày kết thúc đứng trước ngày bắt đầu.",
            "The last day is before the first day.",
        ),
        "padmin.err.pass_too_long": ("Vé tháng dài tối đa 366 ngày.", "A pass covers at most 366 days."),
        "padmin.err.no_lot": ("Không có bãi xe này.", "No such lot."),
        "parking.err.inside_here": (
            "Xe này đang ở trong bãi này: tìm trong danh sách xe trong bãi.",
            "This vehicle is already inside this lot: find it in the list of vehicles inside.",
        ),
        "parking.err.inside_elsewhere": (
            "Xe này đang được ghi ở một bãi khác: nhân viên bãi đó cho xe ra, "
            "hoặc quản trị viên huỷ lượt đó.",
            "This vehicle is recorded in another lot: that lot's attendant checks it out, "
            "or an admin voids it.",
        ),
        "padmin.err.pass_overlap": (
            "Xe này đã có vé tháng ở bãi này trong những ngày đó.",
            "This plate already has a pass at this lot in these days.",
        ),
    }
)

# A form's own error types (core.forms.field_message looks up "form.<type>")
register_messages({})


# The attendant console (parking/console.py)
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
CONSOLE_JS_MESSAGES: dict[str, tuple[str, str]] = {
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
register_messages({f"console.js.{k}": v for k, v in CONSOLE_JS_MESSAGES.items()})


# KPIs (parking/kpi_routes.py); the vehicle classes' names, which the admin page shows too
register_messages(
    {
        "link.parking_kpis": ("Chỉ tiêu gửi xe không tiền mặt", "Cashless parking KPIs"),
        "pkpi.title": ("Chỉ tiêu gửi xe", "Parking KPIs"),
        "pkpi.from": ("Từ ngày", "From"),
        "pkpi.to": ("Đến ngày", "To"),
        "pkpi.group": ("Theo", "By"),
        "pkpi.group.lot": ("Bãi xe", "Lot"),
        "pkpi.group.ward": ("Phường", "Ward"),
        "pkpi.group.day": ("Ngày", "Day"),
        "pkpi.class": ("Loại xe", "Vehicle class"),
        "pkpi.class_all": ("Tất cả", "All"),
        "pkpi.ward": ("Phường", "Ward"),
        "pkpi.ward_all": ("Tất cả các phường", "All wards"),
        "pkpi.show": ("Xem", "Show"),
        "pkpi.csv": ("Tải CSV (Excel)", "Download CSV (Excel)"),
        "pkpi.chart": ("Tỷ lệ không dùng tiền mặt", "Cashless share"),
        "pkpi.target": ("Mục tiêu {share}", "Target {share}"),
        "pkpi.total": ("Tổng cộng", "Total"),
        "pkpi.by_class": ("Theo loại xe", "By vehicle class"),
        "pkpi.turns": ("Lượt xe", "Turns"),
        "pkpi.cashless_share": ("Không tiền mặt", "Cashless"),
        "pkpi.cash_turns": ("Tiền mặt", "Cash"),
        "pkpi.pass_turns": ("Vé tháng", "Pass"),
        "pkpi.unpaid_turns": ("Ra chưa trả", "Left unpaid"),
        "pkpi.pending_turns": ("Đang chờ trả", "Paying now"),
        "pkpi.revenue": ("Doanh thu", "Revenue"),
        "pkpi.cashless_revenue": ("Thu qua ngân hàng", "Cashless revenue"),
        "pkpi.unpaid_amount": ("Chưa thu được", "Not collected"),
        "pkpi.avg_stay": ("Gửi TB (phút)", "Avg stay (min)"),
        "pkpi.no_turns": ("Không có lượt xe nào trong khoảng này.", "No turns in this range."),
        "pkpi.definitions": (
            "Lượt xe: xe đã cho ra trong ngày (giờ Hà Nội), không tính lượt bị hủy. Tỷ lệ không tiền mặt = "
            "(chuyển khoản + vé tháng) / (chuyển khoản + vé tháng + tiền mặt). Ra chưa trả: mã thanh toán "
            "đã hết hạn hoặc bị hủy mà chưa thu được tiền.",
            "Turns: vehicles checked out on the day (Hà Nội time), voided sessions excluded. "
            "Cashless share = (paid + pass) / (paid + pass + cash). "
            "Left unpaid: the payment code expired or was cancelled with nothing received.",
        ),
        "pclass.bicycle": ("Xe đạp", "Bicycle"),
        "pclass.motorbike": ("Xe máy", "Motorbike"),
        "pclass.car": ("Ô tô đến 9 chỗ", "Car up to 9 seats"),
        "pclass.large_car": ("Ô tô trên 9 chỗ", "Larger car"),
    }
)


# The public lot search (parking/public_pages.py)
register_messages(
    {
        "link.parking_search": ("Tìm bãi gửi xe còn chỗ", "Find a parking lot with free spaces"),
        "psearch.title": ("Tìm bãi gửi xe", "Find a parking lot"),
        "psearch.ward": ("Phường", "Ward"),
        "psearch.ward_all": ("Tất cả các phường", "All wards"),
        "psearch.class": ("Loại xe", "Vehicle"),
        "psearch.available": ("Chỉ bãi còn chỗ", "Only lots with free spaces"),
        "psearch.search": ("Tìm", "Search"),
        "psearch.none": ("Không có bãi xe phù hợp.", "No lot matches."),
        "psearch.all_day": ("Cả ngày đêm", "Day and night"),
        "psearch.distance": ("Cách {d}", "{d} away"),
        "psearch.map": ("Xem bản đồ", "Map"),
        "psearch.class.bicycle": ("Xe đạp", "Bicycle"),
        "psearch.class.motorbike": ("Xe máy", "Motorbike"),
        "psearch.class.car": ("Ô tô đến 9 chỗ", "Car up to 9 seats"),
        "psearch.class.large_car": ("Ô tô trên 9 chỗ", "Larger car"),
    }
)
