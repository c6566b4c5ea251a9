"""Reading a VietQR payload the way a banking app does, with an independent library (vietnam-qr-pay), never
with citypay's own parser; and reading the payload out of a QR image with zxing-cpp."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from vietnam_qr_pay import QRPay

VIETQR_GUID = "A000000727"
MAX_PAYLOAD = 512
MAX_IMAGE_PIXELS = 16_000_000
_TRAILER = re.compile(r"6304[0-9A-Fa-f]{4}$")
_DIGITS = re.compile(r"[0-9]{1,13}")
_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[0-9A-Za-z]{1,19}")


class InvalidQR(ValueError):
    pass


@dataclass(frozen=True)
class ScannedQR:
    payload: str
    bin: str
    account: str
    amount: int | None  # None for a static QR: the payer types the amount
    purpose: str | None
    dynamic: bool


def read_payload(payload: str) -> ScannedQR:
    """Parse and check a VietQR payload; InvalidQR with a reason a payer could act on."""
    payload = payload.strip()
    if not payload:
        raise InvalidQR("empty QR payload")
    if len(payload) > MAX_PAYLOAD:
        raise InvalidQR(f"a VietQR payload is at most {MAX_PAYLOAD} characters")
    if not payload.isprintable():
        raise InvalidQR("the payload holds control characters")
    if not _TRAILER.search(payload):
        raise InvalidQR("the payload does not end with a CRC field (6304 + four hex digits)")
    try:
        qr = QRPay(payload)
    except (ValueError, IndexError, TypeError, RecursionError):  # the library trusts its input's lengths
        raise InvalidQR("the payload is not a well-formed EMVCo QR") from None
    if not qr.is_valid:
        raise InvalidQR("the QR's CRC does not match or a field length is wrong")
    if qr.provider.guid != VIETQR_GUID:
        raise InvalidQR("not a VietQR transfer (tag 38 with GUID A000000727 is missing)")
    if qr.init_method not in ("11", "12"):
        raise InvalidQR("the point of initiation (tag 01) must be 11 or 12")
    if qr.currency not in (None, "704"):
        raise InvalidQR("only VND (currency 704) can be paid")
    bank_bin, account = qr.consumer.bank_bin or "", qr.consumer.bank_number or ""
    if not _BIN.fullmatch(bank_bin):
        raise InvalidQR("the beneficiary bank BIN must be 6 digits")
    if not _ACCOUNT.fullmatch(account):
        raise InvalidQR("the beneficiary account number is missing or malformed")
    amount: int | None = None
    if qr.amount is not None:
        if not _DIGITS.fullmatch(qr.amount) or int(qr.amount) == 0:
            raise InvalidQR("the amount (tag 54) must be whole đồng, 1 to 13 digits")
        amount = int(qr.amount)
    return ScannedQR(
        payload=payload,
        bin=bank_bin,
        account=account,
        amount=amount,
        purpose=qr.additional_data.purpose or None,
        dynamic=qr.init_method == "12",
    )


def decode_qr_image(data: bytes) -> str:
    """The text of the one QR code in an uploaded image (PNG, JPEG, …)."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise InvalidQR("the image is too large; a photo of the QR code is enough")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError):
        raise InvalidQR("the upload is not an image we can read") from None
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode and c.text]
    if not codes:
        raise InvalidQR("no QR code found in the image")
    if len({c.text for c in codes}) > 1:
        raise InvalidQR("the image holds more than one QR code; crop it to one")
    return codes[0].text
