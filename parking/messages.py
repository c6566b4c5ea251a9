"""Parking's vi/en texts: one table for the package (core.i18n.register_messages)."""

from __future__ import annotations

from core.i18n import register_messages

# Administration: lots, tariffs, passes, attendants (parking/admin/)
register_messages(
    {
        "link.parking_admin": ("Bãi xe, biểu phí, vé tháng", "Lots, tariffs, passes"),
        "padmin.title": ("Quản lý bãi xe", "Parking administration"),
        "padmin.saved": ("Đã lưu.", "Saved."),
        "padmin.lots": ("Bãi xe", "Lots"),
        "padmin.lot_id": ("Mã bãi", "Lot id"),
        "padmin.name": ("Tên", "Name"),
        "padmin.address": ("Địa chỉ", "Address"),
        "padmin.ward": ("Phường", "Ward"),
        "padmin.lat": ("Vĩ độ", "Latitude"),
        "padmin.lon": ("Kinh độ", "Longitude"),
        "padmin.zone": ("Khu vực giá", "Tariff zone"),
        "padmin.opens_at": ("Mở cửa (để trống: cả ngày đêm)", "Opens (empty: day and night)"),
        "padmin.closes_at": ("Đóng cửa", "Closes"),
        "padmin.hours": ("Giờ mở cửa", "Opening hours"),
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
        "padmin.blocks_short": ("Giá theo giờ", "Hourly"),
        "padmin.create_lot": ("Thêm bãi xe", "Add a lot"),
        "padmin.save": ("Lưu", "Save"),
        "padmin.zones": ("Khu vực giá", "Tariff zones"),
        "padmin.create_zone": ("Thêm khu vực giá", "Add a tariff zone"),
        "padmin.code": ("Mã", "Code"),
        "padmin.name_vi": ("Tên tiếng Việt", "Vietnamese name"),
        "padmin.name_en": ("Tên tiếng Anh", "English name"),
        "padmin.tariffs": ("Biểu phí (các phiên bản)", "Tariffs (versions)"),
        "padmin.tariff_note": (
            "Phiên bản không sửa được; phiên bản mới thay thế từ thời điểm hiệu lực của nó.",
            "Versions are never edited; a new version takes over from its effective time.",
        ),
        "padmin.class": ("Loại xe", "Vehicle class"),
        "padmin.effective_from": ("Hiệu lực từ (giờ Hà Nội)", "Effective from (Hà Nội time)"),
        "padmin.day_turn": ("Giá lượt ngày", "Day turn"),
        "padmin.night_turn": ("Giá lượt đêm", "Night turn"),
        "padmin.blocks": ("Giá theo giờ [[từ giờ, giá/giờ], …]", "Hourly blocks [[from hour, price/h], …]"),
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
        "padmin.err.pass_overlap": (
            "Xe này đã có vé tháng ở bãi này trong những ngày đó.",
            "This plate already has a pass at this lot in these days.",
        ),
    }
)

# A form's own error types (core.forms.field_message looks up "form.<type>")
register_messages(
    {
        "form.parking_hourly_blocks_format": (
            "Viết giá theo giờ dạng [[1, 25000], [3, 35000]].",
            "Write the blocks as [[1, 25000], [3, 35000]].",
        ),
    }
)
