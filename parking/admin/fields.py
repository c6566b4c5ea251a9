"""Field types the parking administration's models share: codes, vehicle classes, prices, wall-clock times and
coordinates — strict in the JSON API; in a form (core.forms) also as people type them."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from core.money import Dong

VehicleClass = Literal["bicycle", "motorbike", "car", "large_car"]
LOT_ID = r"^[a-z0-9][a-z0-9-]{1,60}$"
ZONE_CODE = r"^[a-z0-9][a-z0-9-]{1,30}$"
USERNAME = r"^[a-z0-9][a-z0-9._-]{1,62}$"
# The same ids as route path segments (aiohttp patterns).
LOT_IN_PATH = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"
USER_IN_PATH = "{username:[a-z0-9][a-z0-9._-]{1,62}}"
MAX_PRICE = 100_000_000  # đồng; far above any parking price, and keeps every amount inside bigint

Price = Annotated[Dong, Field(le=MAX_PRICE, description="Whole đồng, ≥ 0")]


def _naive_time(value: time | None) -> time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError("a wall-clock time in Hà Nội, without an offset")
    return value


LocalTime = Annotated[time | None, AfterValidator(_naive_time)]


def _decimal_comma(value: Any, info: ValidationInfo) -> Any:
    # A Vietnamese keyboard writes 21,0285; only a form may, the JSON API keeps its numbers.
    if isinstance(value, str) and info.context and info.context.get("form"):
        return value.strip().replace(",", ".")
    return value


DecimalComma = BeforeValidator(_decimal_comma)
"""For a float field: in a form, "21,0285" reads as 21.0285."""


def _coordinate(limit: int, error_type: str):
    """Latitude or longitude within ±limit degrees; the refusal names the field ("Vĩ độ phải từ -90 đến 90."),
    where pydantic's own reads "at most 90.0": a number not written the Vietnamese way, naming no field."""

    def check(value: float) -> float:
        if not -limit <= value <= limit:
            raise PydanticCustomError(error_type, "outside ±{limit} degrees", {"limit": limit})
        return value

    return AfterValidator(check)


Latitude = Annotated[
    float,
    DecimalComma,
    _coordinate(90, "padmin_latitude"),
    Field(json_schema_extra={"minimum": -90, "maximum": 90}),
]
Longitude = Annotated[
    float,
    DecimalComma,
    _coordinate(180, "padmin_longitude"),
    Field(json_schema_extra={"minimum": -180, "maximum": 180}),
]
