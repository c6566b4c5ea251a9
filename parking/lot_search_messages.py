"""Sentences of the public lot search (issue 12, point 11): open or closed now, the price for the chosen
vehicle class, "near me" progress and refusals, the ward refusal, the map. Imported by parking.lots, so they
are registered wherever a lot is searched (the page and the JSON API). The older "psearch.*" sentences stay
in parking/messages.py."""

from __future__ import annotations

from core.i18n import register_messages

register_messages(
    {
        "lotsearch.heading": ("Bãi gửi xe", "Parking lots"),
        "lotsearch.class_label": ("Xe của bạn", "Your vehicle"),
        "lotsearch.filters": ("Lọc theo phường, chỗ trống", "Filter by ward, free spaces"),
        "lotsearch.open_now": ("Đang mở", "Open now"),
        "lotsearch.closed_now": ("Đã đóng", "Closed now"),
        "lotsearch.free_for": ("Còn {free}/{capacity} chỗ", "{free} of {capacity} spaces free"),
        "lotsearch.full_for": ("Hết chỗ (0/{capacity})", "Full (0 of {capacity})"),
        "lotsearch.no_class": (
            "Bãi này không nhận loại xe đã chọn.",
            "This lot does not take the chosen vehicle.",
        ),
        "lotsearch.price_day": ("{price}/lượt ban ngày", "{price} per daytime visit"),
        "lotsearch.price_night": ("{price}/lượt ban đêm", "{price} per night visit"),
        "lotsearch.price_turn": ("{price}/lượt", "{price} per visit"),
        "lotsearch.price_hour": ("{price}/giờ", "{price} an hour"),
        "lotsearch.price_from_hour": ("từ giờ thứ {n}: {price}/giờ", "from hour {n}: {price} an hour"),
        "lotsearch.price_none": ("Chưa có giá cho loại xe này", "No price for this vehicle yet"),
        "lotsearch.pass": ("Vé tháng {price}", "Monthly pass {price}"),
        "lotsearch.all_lots": ("{n} bãi xe", "{n} lots"),
        "lotsearch.near_results": ("{n} bãi gần bạn nhất", "{n} lots nearest to you"),
        "lotsearch.near_none": (
            "Không có bãi xe phù hợp trong vòng {d} quanh bạn.",
            "No matching lot within {d} of you.",
        ),
        "lotsearch.near_me": ("Bãi gần tôi", "Lots near me"),
        "lotsearch.show_all": ("Xem tất cả các bãi", "Show every lot"),
        "lotsearch.locating": ("Đang xác định vị trí của bạn…", "Finding where you are…"),
        "lotsearch.loading": (
            "Đã có vị trí. Đang tìm bãi gần bạn…",
            "Got your position. Finding lots near you…",
        ),
        "lotsearch.loading_list": ("Đang tải danh sách bãi xe…", "Loading the lots…"),
        "lotsearch.geo_denied": (
            "Bạn chưa cho phép trang này dùng vị trí. Danh sách bên dưới vẫn dùng được; "
            "hãy chọn phường để tìm.",
            "Location is not allowed for this page. The list below still works; choose a ward to search.",
        ),
        "lotsearch.geo_unavailable": (
            "Không xác định được vị trí của bạn lúc này. Danh sách bên dưới vẫn dùng được.",
            "Your position is not available right now. The list below still works.",
        ),
        "lotsearch.geo_unsupported": (
            "Trình duyệt này không cho biết vị trí. Hãy chọn phường để tìm.",
            "This browser cannot tell your position. Choose a ward to search.",
        ),
        "lotsearch.load_failed": (
            "Không tải được danh sách bãi xe. Kiểm tra kết nối mạng rồi thử lại.",
            "Could not load the lots. Check the connection and try again.",
        ),
        "lotsearch.unknown_ward": (
            "Không có phường này trong danh sách bãi xe. Hãy chọn một phường trong danh sách.",
            "That ward is not in the list of lots. Choose a ward from the list.",
        ),
        "lotsearch.unknown_class": (
            "Hãy chọn loại xe trong danh sách.",
            "Choose a vehicle from the list.",
        ),
        "lotsearch.bad_position": (
            "Vị trí không hợp lệ. Hãy thử lại “Bãi gần tôi”.",
            "The position is not valid. Try “Lots near me” again.",
        ),
        "lotsearch.map_label": ("Bản đồ các bãi xe", "Map of the lots"),
        "lotsearch.map_offline": (
            "Không tải được bản đồ (cần kết nối mạng). Danh sách bãi xe vẫn dùng được.",
            "The map could not load (it needs the internet). The list still works.",
        ),
    }
)
