"""Sentences for a person about one field's value: pydantic's error types (and ours, raised as
PydanticCustomError) in Vietnamese and English. Forms show them beside the field; API problems carry them
as `text` beside each error, so a page's script shows a sentence from this catalogue, not pydantic's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.i18n import has_message, register_messages, translate
from core.text import InvisibleCharacter

FORM_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Vui lòng nhập mục này.", "Please fill in this field."),
    "string_too_short": ("Cần ít nhất {min_length} ký tự.", "At least {min_length} characters."),
    "string_too_long": ("Tối đa {max_length} ký tự.", "At most {max_length} characters."),
    "string_pattern_mismatch": ("Không đúng định dạng.", "Not in the expected format."),
    "int_parsing": ("Nhập một số nguyên.", "Enter a whole number."),
    "int_type": ("Nhập một số nguyên.", "Enter a whole number."),
    "int_from_float": ("Nhập một số nguyên.", "Enter a whole number."),
    "greater_than_equal": ("Phải từ {ge} trở lên.", "Must be at least {ge}."),
    "greater_than": ("Phải lớn hơn {gt}.", "Must be more than {gt}."),
    "less_than_equal": ("Tối đa là {le}.", "Must be at most {le}."),
    "less_than": ("Phải nhỏ hơn {lt}.", "Must be less than {lt}."),
    "bool_parsing": ("Chọn có hoặc không.", "Choose yes or no."),
    # pydantic's {expected} lists internal values in English ("'admin' or 'finance'"): the page shows the
    # choices in words already, so the sentence points at them instead.
    "literal_error": ("Hãy chọn một trong các mục có sẵn.", "Choose one of the listed options."),
    "enum": ("Hãy chọn một trong các mục có sẵn.", "Choose one of the listed options."),
    "too_short": ("Chọn ít nhất {min_length}.", "Choose at least {min_length}."),
    "too_long": ("Chọn tối đa {max_length}.", "Choose at most {max_length}."),
    "dong_format": (
        "Nhập số tiền nguyên bằng đồng, ví dụ 200000 hoặc 200.000.",
        "Enter a whole number of đồng, e.g. 200000 or 200.000.",
    ),
    "local_datetime_format": (
        "Nhập ngày giờ, ví dụ 2026-12-31 08:30 (giờ Hà Nội).",
        "Enter a date and time, e.g. 2026-12-31 08:30 (Hà Nội time).",
    ),
    "local_date_format": ("Nhập ngày, ví dụ 31/12/2026.", "Enter a date, e.g. 31/12/2026."),
    "datetime_parsing": (
        "Nhập ngày giờ, ví dụ 2026-12-31 08:30 (giờ Hà Nội).",
        "Enter a date and time, e.g. 2026-12-31 08:30 (Hà Nội time).",
    ),
    "date_parsing": ("Nhập ngày, ví dụ 31/12/2026.", "Enter a date, e.g. 31/12/2026."),
    "out_of_range_moment": (
        "Ngày giờ phải nằm trong khoảng năm 2000–2100.",
        "The date must lie between the years 2000 and 2100.",
    ),
    "invisible_characters": (
        "Có ký tự ẩn hoặc ký tự điều khiển; hãy gõ lại.",
        "Contains hidden or control characters; please type it again.",
    ),
    "given_twice": (
        "Mục này được gửi nhiều lần; hãy gửi lại biểu mẫu.",
        "This field was sent more than once; please send the form again.",
    ),
    "invalid": ("Giá trị không hợp lệ.", "Invalid value."),
    "fix_fields": (
        "Chưa lưu: hãy sửa các mục được đánh dấu bên dưới.",
        "Not saved: correct the marked fields.",
    ),
}
register_messages({f"form.{key}": pair for key, pair in FORM_MESSAGES.items()})


def _limit(value: Any, lang: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a bound of 90.0 reads "90"
    if isinstance(value, int) and not isinstance(value, bool):
        grouped = f"{value:,}"
        return grouped.replace(",", ".") if lang == "vi" else grouped
    if isinstance(value, float):
        return str(value).replace(".", ",") if lang == "vi" else str(value)
    return str(value)


def field_message(error_type: str, lang: str, ctx: Mapping[str, Any] | None = None) -> str:
    """A pydantic error type — its own, or one of ours raised as PydanticCustomError("<type>", …) — as a
    sentence for a person; a type without a sentence here reads "invalid value", never pydantic's English."""
    key = error_type if has_message(f"form.{error_type}") else "invalid"
    values = {k: _limit(v, lang) for k, v in (ctx or {}).items()}
    try:
        return translate(f"form.{key}", lang, **values)
    except (KeyError, IndexError):  # a context value the sentence does not name
        return translate("form.invalid", lang)


def error_type(err: Mapping[str, Any]) -> str:
    """core.text's types refuse hidden characters with a plain ValueError (pydantic's "value_error"); the
    reader is told what is wrong with the text rather than "invalid value"."""
    ctx = err.get("ctx") or {}
    if err["type"] == "value_error" and isinstance(ctx.get("error"), InvisibleCharacter):
        return "invisible_characters"
    # A text type with a BeforeValidator (core.text's FreeText) and a length bound is reported as a generic
    # "too_long" of a "Value", not "string_too_long": it is still text, counted in characters, not choices.
    if err["type"] in ("too_long", "too_short") and ctx.get("field_type") == "Value":
        return "string_" + err["type"]
    return err["type"]
