"""Field types the parking administration's models share: codes, vehicle classes, prices, wall-clock times and
coordinates — strict in the JSON API; in a form (core.forms) also as people type them."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WrapValidator
from pydantic_core import PydanticCustomError

from core.money import Dong

LOT_ID = r"^[a-z0-9][a-z0-9-]{1,60}$"
ZONE_CODE = r"^[a-z0-9][a-z0-9-]{1,30}$"
USERNAME = r"^[a-z0-9][a-z0-9._-]{1,62}$"


def _one_of_the_classes(value: Any, handler: Any) -> Any:
    # pydantic's refusal would list the internal names ('bicycle', 'motorbike', …); a person reads the classes
    try:
        return handler(value)
    except ValueError:
        raise PydanticCustomError("padmin_vehicle_class", "not a vehicle class") from None


VehicleClass = Annotated[
    Literal["bicycle", "motorbike", "car", "large_car"], WrapValidator(_one_of_the_classes)
]


def _shaped(pattern: str, error_type: str) -> AfterValidator:
    """A code typed in a form (a lot id, a zone code, a username): its refusal says what the code is made of,
    where pydantic's reads only "not in the expected format". (The JSON Schema keeps the pattern.)"""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError(error_type, "not in the expected format")
        return value

    return AfterValidator(check)


LotId = Annotated[str, _shaped(LOT_ID, "padmin_lot_id"), Field(json_schema_extra={"pattern": LOT_ID})]
ZoneCode = Annotated[
    str, _shaped(ZONE_CODE, "padmin_zone_code"), Field(json_schema_extra={"pattern": ZONE_CODE})
]
Username = Annotated[
    str, _shaped(USERNAME, "padmin_username"), Field(json_schema_extra={"pattern": USERNAME})
]
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
