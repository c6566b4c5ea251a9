"""The CCCD (căn cước công dân, the 12-digit personal identification number) and what it must agree with.

Structure (Decree 137/2015/NĐ-CP art. 13; Circular 07/2016/TT-BCA art. 7 and its appendix 1):
- digits 1–3: the province or centrally-run city where the birth was registered (the 63 codes below);
- digit 4: century of birth and sex — 0/1 = 1900–1999 male/female, 2/3 = 2000–2099, 4/5 = 2100–2199,
  6/7 = 2200–2299, 8/9 = 2300–2399 (the circular's table; the brief's "8/9 = 19th century" is not in it);
- digits 5–6: the last two digits of the birth year;
- digits 7–12: a random range.

Codes for births registered abroad (country codes) are not accepted: the city pays people registered in
Việt Nam; a deployment that needs them adds them here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

# Circular 07/2016/TT-BCA, appendix 1: province code → name (63 provinces and centrally-run cities).
PROVINCES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}
assert len(PROVINCES) == 63

# The 4th digit: (first year of the century, sex).
CENTURY_SEX: dict[str, tuple[int, str]] = {
    "0": (1900, "male"),
    "1": (1900, "female"),
    "2": (2000, "male"),
    "3": (2000, "female"),
    "4": (2100, "male"),
    "5": (2100, "female"),
    "6": (2200, "male"),
    "7": (2200, "female"),
    "8": (2300, "male"),
    "9": (2300, "female"),
}


@dataclass(frozen=True)
class CccdProblem:
    """Why a CCCD was refused: `code` is stable (tests, the import report); the messages are for people."""

    code: str
    message_vi: str
    message_en: str


def clean_cccd(raw: str) -> str:
    """The digits a person typed: full-width digits folded (NFKC), spaces and dots people put between groups
    dropped. Anything else is left for `cccd_problem` to refuse."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if ch not in " .\u00a0\t-")


def cccd_problem(cccd: str, birth_date: date | None) -> CccdProblem | None:
    """None when `cccd` (already cleaned) is a well-formed CCCD consistent with `birth_date` (None: only the
    form is checked); else the first problem found."""
    if len(cccd) != 12 or not cccd.isascii() or not cccd.isdigit():
        return CccdProblem(
            "length",
            "Số CCCD phải gồm đúng 12 chữ số.",
            "A CCCD number is exactly 12 digits.",
        )
    province = cccd[:3]
    if province not in PROVINCES:
        return CccdProblem(
            "province",
            f"Ba số đầu {province} không phải mã tỉnh, thành phố nào (Thông tư 07/2016/TT-BCA).",
            f"The first three digits {province} are not a province code (Circular 07/2016/TT-BCA).",
        )
    if birth_date is None:
        return None
    century, _sex = CENTURY_SEX[cccd[3]]
    if not century <= birth_date.year < century + 100:
        return CccdProblem(
            "century",
            f"Chữ số thứ 4 ({cccd[3]}) chỉ thế kỷ sinh {century}–{century + 99}, không khớp năm sinh "
            f"{birth_date.year}.",
            f"The 4th digit ({cccd[3]}) means born {century}–{century + 99}, not {birth_date.year}.",
        )
    if cccd[4:6] != f"{birth_date.year % 100:02d}":
        return CccdProblem(
            "year",
            f"Chữ số thứ 5–6 ({cccd[4:6]}) phải là hai số cuối năm sinh ({birth_date.year % 100:02d}).",
            f"Digits 5–6 ({cccd[4:6]}) must be the last two digits of the birth year "
            f"({birth_date.year % 100:02d}).",
        )
    return None


def sex_of(cccd: str) -> str:
    """'male' or 'female', read from the 4th digit of a valid CCCD."""
    return CENTURY_SEX[cccd[3]][1]
