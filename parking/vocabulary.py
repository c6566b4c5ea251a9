"""Parking's vocabularies, each spelled once; tests/test_vocabularies.py checks each against the CHECK
constraint of the columns that store it."""

from __future__ import annotations

from enum import StrEnum


class VehicleClass(StrEnum):
    BICYCLE = "bicycle"
    MOTORBIKE = "motorbike"
    CAR = "car"
    LARGE_CAR = "large_car"  # over 9 seats; carries a car plate


VEHICLE_CLASSES: tuple[str, ...] = tuple(VehicleClass)
# For people choosing one (console buttons, lot search): the most common first.
CLASSES_MOST_COMMON_FIRST = (
    VehicleClass.MOTORBIKE,
    VehicleClass.CAR,
    VehicleClass.LARGE_CAR,
    VehicleClass.BICYCLE,
)


class SessionStatus(StrEnum):
    INSIDE = "inside"
    AWAITING_PAYMENT = "awaiting_payment"
    CLOSED = "closed"
    VOIDED = "voided"


OPEN_STATUSES = (SessionStatus.INSIDE, SessionStatus.AWAITING_PAYMENT)  # the vehicle has not paid its way out


class CloseReason(StrEnum):
    PAID = "paid"
    PASS = "pass"  # noqa: S105 — a monthly pass, not a password
    CASH = "cash"
    FREE = "free"
