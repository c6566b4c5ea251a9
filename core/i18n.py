"""Vietnamese-first user-facing text with English beside it; the language comes from the `lang` cookie."""

from __future__ import annotations

from aiohttp import web

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANG_COOKIE = "lang"

# key → (Vietnamese, English). Packages add their own with register_messages.
_MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("citypay Hà Nội", "citypay Hanoi"),
    "app.tagline": (
        "Thanh toán không dùng tiền mặt cho dịch vụ công và gửi xe",
        "Cashless payments for public services and parking",
    ),
    "nav.home": ("Trang chủ", "Home"),
    "nav.login": ("Đăng nhập nhân viên", "Staff login"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.language": ("English", "Tiếng Việt"),
    "login.title": ("Đăng nhập", "Log in"),
    "login.username": ("Tên đăng nhập", "Username"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.throttled": (
        "Quá nhiều lần thử. Vui lòng thử lại sau {wait}.",
        "Too many attempts. Please try again in {wait}.",
    ),
    "login.csrf": ("Phiên biểu mẫu đã hết hạn, vui lòng thử lại.", "The form expired, please try again."),
    "home.title": ("Trang nhân viên", "Staff home"),
    "home.welcome": ("Xin chào, {name}", "Hello, {name}"),
    "home.role": ("Vai trò", "Role"),
    "home.can_use": ("Bạn có thể sử dụng", "You can use"),
    "role.admin": ("Quản trị", "Administrator"),
    "role.attendant": ("Nhân viên trông xe", "Parking attendant"),
    "role.finance": ("Kế toán", "Finance"),
    "role.approver": ("Kiểm soát viên", "Approver"),
    "link.trial_balance": ("Bảng cân đối thử", "Trial balance"),
    "link.tokens": ("Mã truy cập API", "API tokens"),
    "link.staff": ("Tài khoản nhân viên", "Staff accounts"),
    "link.openapi": ("Tài liệu API (OpenAPI)", "API document (OpenAPI)"),
    "link.metrics": ("Chỉ số vận hành", "Operational metrics"),
    "public.title": ("Dịch vụ thanh toán của thành phố", "The city's payment service"),
    "public.pay_hint": (
        "Mở đường dẫn thanh toán bạn nhận được, quét mã VietQR bằng ứng dụng ngân hàng bất kỳ.",
        "Open the payment link you received and scan the VietQR code with any banking app.",
    ),
    "tb.title": ("Bảng cân đối thử", "Trial balance"),
    "tb.as_of": ("Đến ngày", "As of"),
    "tb.account": ("Tài khoản", "Account"),
    "tb.debit": ("Nợ", "Debit"),
    "tb.credit": ("Có", "Credit"),
    "tb.total": ("Tổng", "Total"),
    "tb.empty": ("Chưa có bút toán nào.", "No entries yet."),
    "tb.show": ("Xem", "Show"),
    "error.title": ("Có lỗi", "Something went wrong"),
    "error.not_found": ("Không tìm thấy trang.", "Page not found."),
    "error.forbidden": ("Bạn không có quyền xem trang này.", "You may not open this page."),
}


def register_messages(messages: dict[str, tuple[str, str]]) -> None:
    clash = set(messages) & set(_MESSAGES)
    if clash:
        raise ValueError(f"message keys registered twice: {sorted(clash)}")
    _MESSAGES.update(messages)


def has_message(key: str) -> bool:
    return key in _MESSAGES


def translate(key: str, lang: str, **values: object) -> str:
    pair = _MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def request_language(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    if lang in LANGUAGES:
        return lang
    # API clients may ask for English problem titles; pages stay Vietnamese until the person switches.
    if request.path.startswith("/api/") and request.headers.get("Accept-Language", "").lower().startswith(
        "en"
    ):
        return "en"
    return DEFAULT_LANGUAGE
