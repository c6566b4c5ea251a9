"""HTTP API of parking: public lot search, attendant check-in/check-out, cash exceptions, admin voids."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from core.api import PUBLIC, Routes, staff
from core.appkeys import CLOCK, KEYS, POOL, SETTINGS
from core.auth import principal_of
from core.errors import NotFound
from core.responses import ResponseModel, Timestamp, json_response
from core.text import FreeText, Identifier
from parking.console_messages import CORRECTION_WINDOW
from parking.corrections import cancel_session, correct_session, correctable
from parking.lots import search_lots
from parking.plates import InvalidPlate, plate_text
from parking.sessions import (
    PlateInput,
    candidates_inside,
    check_in,
    check_out,
    ensure_attendant_of,
    record_cash,
    void_session,
)
from payments import payment_summary, summary_of

routes = Routes(tags=("parking",))
ATTENDANTS = staff("attendant", "admin")
VehicleClass = Literal["bicycle", "motorbike", "car", "large_car"]
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"


def _plate_characters(value: str) -> str:
    try:
        return plate_text(value)
    except InvalidPlate as exc:  # "parking_plate_characters": its sentence is in parking.console_messages
        raise PydanticCustomError("parking_plate_characters", exc.reason) from None


# Invisible characters refused (Identifier), then look-alike Cyrillic/Greek letters folded and anything else
# that cannot be on a plate refused: a 422 naming the field, before any session is looked up or opened.
PlateText = Annotated[Identifier, AfterValidator(_plate_characters)]


class Candidate(BaseModel):
    model_config = ConfigDict(
        extra="ignore"
    )  # engines send extra fields (boxes, regions); we keep what we use
    plate: PlateText = Field(min_length=1, max_length=20)
    score: float = Field(ge=0, le=1)


class PlateBody(BaseModel):
    plate: PlateText | None = Field(
        default=None, min_length=1, max_length=20, description="As typed or written"
    )
    candidates: list[Candidate] | None = Field(
        default=None, min_length=1, max_length=20, description="Plate-recognition results with scores 0–1"
    )

    def plate_input(self, override_reason: str | None = None, class_confirmed: bool = False) -> PlateInput:
        return PlateInput(
            self.plate,
            tuple((c.plate, c.score) for c in self.candidates or ()),
            override_reason,
            class_confirmed,
        )


class CheckInBody(PlateBody):
    model_config = ConfigDict(extra="forbid")
    vehicle_class: VehicleClass
    override_reason: FreeText | None = Field(
        default=None, min_length=5, max_length=200, description="Needed when the plate fits no rule"
    )
    class_confirmed: bool = Field(
        default=False,
        description="Keep vehicle_class although the plate as written reads as another class's plate "
        "(after a plate-class-mismatch problem offered the readings)",
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.plate is None) == (self.candidates is None):
            raise ValueError("send either plate or candidates")
        return self


class CheckOutBody(PlateBody):
    model_config = ConfigDict(extra="forbid")
    session_id: uuid.UUID | None = Field(default=None, description="Confirm one of the suggested sessions")

    @model_validator(mode="after")
    def _one_source(self):
        if sum(x is not None for x in (self.plate, self.candidates, self.session_id)) != 1:
            raise ValueError("send exactly one of plate, candidates or session_id")
        return self


class CorrectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plate: PlateText | None = Field(
        default=None, min_length=1, max_length=20, description="The right plate (omit to keep it)"
    )
    vehicle_class: VehicleClass | None = Field(default=None, description="The right class (omit to keep it)")
    override_reason: FreeText | None = Field(
        default=None, min_length=5, max_length=200, description="Needed when the plate fits no rule"
    )
    class_confirmed: bool = False

    @model_validator(mode="after")
    def _something(self):
        if self.plate is None and self.vehicle_class is None:
            raise ValueError("send plate, vehicle_class or both")
        return self


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: FreeText | None = Field(default=None, min_length=5, max_length=200)


class CandidatesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plate: PlateText | None = Field(default=None, min_length=1, max_length=20, description="As typed")
    readings: list[Candidate] | None = Field(
        default=None, min_length=1, max_length=20, description="A plate reader's readings with scores 0–1"
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.plate is None) == (self.readings is None):
            raise ValueError("send either plate or readings")
        return self


class CandidateOut(ResponseModel):
    session_id: str
    plate: str
    vehicle_class: str
    entered_at: Timestamp
    status: str
    distance: int
    kind: Literal["exact", "confusion", "typo"]


class CandidateList(ResponseModel):
    items: list[CandidateOut]


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: FreeText = Field(min_length=5, max_length=500)


class PaymentOut(ResponseModel):
    id: str
    reference: str
    status: str
    amount_due: int
    pay_url: str
    qr_png_url: str | None
    qr_payload: str | None
    expires_at: Timestamp


class FeeLineOut(ResponseModel):
    code: str
    description: str
    quantity: int
    unit_price: int
    amount: int


class SessionOut(ResponseModel):
    id: str
    lot_id: str
    plate: str
    plate_written: str
    vehicle_class: str
    status: Literal["inside", "awaiting_payment", "closed", "voided"]
    entered_at: Timestamp
    exit_requested_at: Timestamp | None
    fee_amount: int | None
    fee_lines: list[FeeLineOut] | None
    close_reason: str | None
    closed_at: Timestamp | None
    plate_override_reason: str | None
    payment: PaymentOut | None
    corrected_at: Timestamp | None = None
    correctable_until: Timestamp | None = Field(
        default=None,
        description="While inside: until when plate and class may be corrected or the entry cancelled",
    )
    correctable: bool | None = Field(
        default=None, description="Whether the caller may correct or cancel it now (lists of a lot only)"
    )


class SessionList(ResponseModel):
    items: list[SessionOut]


class SpacesOut(ResponseModel):
    capacity: int
    free: int


class LotOut(ResponseModel):
    id: str
    name: str
    address: str
    ward: str
    lat: float
    lon: float
    zone: str
    opening_hours: str
    distance_m: int | None
    spaces: dict[str, SpacesOut]


class LotList(ResponseModel):
    items: list[LotOut]


class LotSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    near: str | None = Field(default=None, description="lat,lon in decimal degrees", max_length=60)
    radius_m: int = Field(default=2000, ge=1, le=50_000)
    vehicle_class: VehicleClass | None = None
    available: bool = False
    ward: FreeText | None = Field(default=None, max_length=100)
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("near")
    @classmethod
    def _point(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            lat, lon = (float(x) for x in v.split(","))
        except ValueError:
            raise ValueError("near is lat,lon, e.g. 21.0285,105.8542") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("lat in −90…90, lon in −180…180")
        return f"{lat},{lon}"


class SessionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "closed", "all"] = "open"
    limit: int = Field(default=200, ge=1, le=1000)


async def session_out(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    base_url: str,
    principal=None,
    now=None,
    issued: Mapping[str, Any] | None = None,
) -> SessionOut:
    """`issued`: the session's payment request as the check-out just inserted it (not read again)."""
    payment = None
    if issued is not None and issued["id"] == row["payment_request_id"]:
        payment = PaymentOut.model_validate(summary_of(issued, base_url))
    elif row["payment_request_id"]:
        summary = await payment_summary(conn, row["payment_request_id"], base_url)
        payment = PaymentOut.model_validate(summary) if summary is not None else None
    return SessionOut(
        id=str(row["id"]),
        lot_id=row["lot_id"],
        plate=row["plate"],
        plate_written=row["plate_written"],
        vehicle_class=row["vehicle_class"],
        status=row["status"],
        entered_at=row["entered_at"],
        exit_requested_at=row["exit_requested_at"],
        fee_amount=row["fee_amount"],
        fee_lines=row["fee_lines"],
        close_reason=row["close_reason"],
        closed_at=row["closed_at"],
        plate_override_reason=row["plate_override_reason"],
        payment=payment,
        corrected_at=row["corrected_at"],
        correctable_until=row["entered_at"] + CORRECTION_WINDOW if row["status"] == "inside" else None,
        correctable=correctable(row, principal, now) if principal is not None and now is not None else None,
    )


def _uuid(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no such {name}", field=name) from None


@routes.get(
    "/api/v1/parking/lots",
    access=PUBLIC,
    summary="Find lots near a point with free spaces",
    query=LotSearch,
    response=LotList,
)
async def find_lots(request: web.Request, query: LotSearch) -> web.Response:
    lat = lon = None
    if query.near:
        lat, lon = (float(x) for x in query.near.split(","))
    async with request.app[POOL].acquire() as conn:
        items = await search_lots(
            conn,
            lat=lat,
            lon=lon,
            radius_m=query.radius_m if query.near else None,
            vehicle_class=query.vehicle_class,
            available=query.available,
            ward=query.ward,
            limit=query.limit,
        )
    return json_response(LotList.model_validate({"items": items}))


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/check-ins",
    access=ATTENDANTS,
    summary="Check a vehicle in",
    body=CheckInBody,
    response=SessionOut,
    status=201,
    responses={
        404: "No such lot",
        409: "Class full, plate inside, lot closed, or the plate as written is another class's "
        "(plate-class-mismatch, with `readings`)",
    },
)
async def check_in_route(request: web.Request, body: CheckInBody) -> web.Response:
    principal = principal_of(request)
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        row = await check_in(
            conn,
            principal=principal,
            lot_id=lot_id,
            vehicle_class=body.vehicle_class,
            entry=body.plate_input(body.override_reason, body.class_confirmed),
            actor=principal.actor,
            now=request.app[CLOCK].now(),
        )
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url)
    return json_response(out, status=201)


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/check-outs",
    access=ATTENDANTS,
    summary="Check a vehicle out: quote the fee and issue the exit payment request",
    body=CheckOutBody,
    response=SessionOut,
    responses={404: "Plate not inside (with suggestions of close readings)"},
)
async def check_out_route(request: web.Request, body: CheckOutBody) -> web.Response:
    principal = principal_of(request)
    lot_id = request.match_info["lot_id"]
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        result = await check_out(
            conn,
            request.app[KEYS],
            principal=principal,
            lot_id=lot_id,
            entry=body.plate_input(),
            actor=principal.actor,
            now=request.app[CLOCK].now(),
            session_id=body.session_id,
            amount_cap=settings.amount_cap,
            payment_expiry=timedelta(minutes=settings.expiry_parking_minutes),
        )
        out = await session_out(conn, result.session, settings.public_base_url, issued=result.payment_request)
    return json_response(out)


@routes.get(
    f"/api/v1/parking/lots/{_LOT}/sessions",
    access=ATTENDANTS,
    summary="Vehicles in a lot",
    query=SessionQuery,
    response=SessionList,
)
async def lot_sessions(request: web.Request, query: SessionQuery) -> web.Response:
    lot_id = request.match_info["lot_id"]
    statuses = {
        "open": ["inside", "awaiting_payment"],
        "closed": ["closed", "voided"],
        "all": ["inside", "awaiting_payment", "closed", "voided"],
    }[query.status]
    principal = principal_of(request)
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal)
        rows = await conn.fetch(
            "SELECT * FROM parking_sessions WHERE lot_id = $1 AND status = ANY($2::text[]) "
            "ORDER BY entered_at DESC LIMIT $3",
            lot_id,
            statuses,
            query.limit,
        )
        base = request.app[SETTINGS].public_base_url
        items = [await session_out(conn, r, base, principal, now) for r in rows]
    return json_response(SessionList(items=items))


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/sessions/{{session_id}}/cash",
    access=ATTENDANTS,
    summary="Record a cash exception (with a reason)",
    body=ReasonBody,
    response=SessionOut,
    responses={409: "Not awaiting payment, or already paid"},
)
async def cash_route(request: web.Request, body: ReasonBody) -> web.Response:
    principal = principal_of(request)
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal)
        row = await record_cash(
            conn,
            session_id=_uuid(request, "session_id"),
            lot_id=lot_id,
            reason=body.reason,
            actor=principal.actor,
            now=request.app[CLOCK].now(),
        )
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url)
    return json_response(out)


@routes.post(
    "/api/v1/parking/sessions/{session_id}/void",
    access=staff("admin"),
    summary="Void a session (admin, with a reason)",
    body=ReasonBody,
    response=SessionOut,
    responses={409: "Already closed"},
)
async def void_route(request: web.Request, body: ReasonBody) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        row = await void_session(
            conn,
            session_id=_uuid(request, "session_id"),
            reason=body.reason,
            actor=principal.actor,
            now=request.app[CLOCK].now(),
        )
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url)
    return json_response(out)


@routes.get(
    f"/api/v1/parking/lots/{_LOT}/sessions/{{session_id}}",
    access=ATTENDANTS,
    summary="One session of a lot (the console's fallback when live updates fail)",
    response=SessionOut,
)
async def lot_session(request: web.Request) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal_of(request))
        row = await conn.fetchrow(
            "SELECT * FROM parking_sessions WHERE id = $1 AND lot_id = $2",
            _uuid(request, "session_id"),
            lot_id,
        )
        if row is None:
            raise NotFound("no such session in this lot", field="session_id")
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url)
    return json_response(out)


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/sessions/{{session_id}}/correct",
    access=ATTENDANTS,
    summary="Correct the plate or class of a vehicle just checked in (within the correction window)",
    body=CorrectBody,
    response=SessionOut,
    responses={
        403: "Checked in by another attendant",
        409: "Outside the window, awaiting payment or ended (correction-refused); plate inside; class full",
        422: "The plate is no plate of the class",
    },
)
async def correct_route(request: web.Request, body: CorrectBody) -> web.Response:
    principal = principal_of(request)
    lot_id = request.match_info["lot_id"]
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal)
        row = await correct_session(
            conn,
            lot_id=lot_id,
            session_id=_uuid(request, "session_id"),
            plate=body.plate,
            vehicle_class=body.vehicle_class,
            override_reason=body.override_reason,
            class_confirmed=body.class_confirmed,
            principal=principal,
            now=now,
        )
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url, principal, now)
    return json_response(out)


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/sessions/{{session_id}}/cancel",
    access=ATTENDANTS,
    summary="Cancel a wrongly opened session (within the correction window; an admin voids later)",
    body=CancelBody,
    response=SessionOut,
    responses={
        403: "Checked in by another attendant",
        409: "Outside the window, awaiting payment or ended (correction-refused)",
    },
)
async def cancel_route(request: web.Request, body: CancelBody) -> web.Response:
    principal = principal_of(request)
    lot_id = request.match_info["lot_id"]
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal)
        row = await cancel_session(
            conn,
            lot_id=lot_id,
            session_id=_uuid(request, "session_id"),
            reason=body.reason,
            principal=principal,
            now=now,
        )
        out = await session_out(conn, row, request.app[SETTINGS].public_base_url, principal, now)
    return json_response(out)


@routes.post(
    f"/api/v1/parking/lots/{_LOT}/candidates",
    access=ATTENDANTS,
    summary="Vehicles inside that a typed plate or a plate reader's readings may mean, ranked",
    body=CandidatesBody,
    response=CandidateList,
    responses={404: "No such lot", 422: "Neither or both of plate and readings"},
)
async def candidates_route(request: web.Request, body: CandidatesBody) -> web.Response:
    """Same plate, look-alike characters (O/0, I/1, B/8, D/0, G/6, S/5, Z/2, T/1) or one other wrong
    character; fewest differences first, then look-alikes before a wrong character, then the reading's score,
    then the latest entry. Used by the console's typo help and its plate scanner."""
    lot_id = request.match_info["lot_id"]
    readings = [(body.plate, 1.0)] if body.plate else [(c.plate, c.score) for c in body.readings or ()]
    async with request.app[POOL].acquire() as conn:
        await ensure_attendant_of(conn, lot_id, principal_of(request))
        items = await candidates_inside(conn, lot_id, readings)
    return json_response(CandidateList.model_validate({"items": items}))
