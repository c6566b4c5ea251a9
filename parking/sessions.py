"""Parking sessions: check-in and check-out by plate, the exit payment request, cash exceptions and voids.

Every write takes the session (or the lot's capacity row) FOR UPDATE, so two attendants acting on the same
vehicle at once produce one outcome; every action is recorded in the audit log in the same transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

import asyncpg

from core import audit
from core.audit import (
    AUDIT_PARAMS,
    audit_head_sql,
    audit_insert_when_sql,
    audit_stream,
    field_stream_sql,
    prepare_audit,
    record_audit,
)
from core.db import savepoint_if_nested
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed, map_constraint
from core.keys import AppKeys
from core.money import LOCAL_TZ
from ledger import accounts, post_entry
from parking import console_messages  # noqa: F401  (registers the sentences its refusals name)
from parking.plates import (
    InvalidPlate,
    class_disagreement,
    match_plate,
    normalise_plate,
    parse_plate,
    plate_text,
)
from parking.tariffs import ClassTariff, FeeQuote, Tariff, quote_exit_fee
from payments import (
    NewRequest,
    business_date_of,
    issue_payment_request,
    prepare_request,
    request_insert_when_sql,
    request_status,
    supersede_request,
)


class ClassFull(Conflict):
    slug = "vehicle-class-full"
    title_vi, title_en = "Bãi đã hết chỗ cho loại xe này", "No free space for this vehicle class"


class PlateAlreadyInside(Conflict):
    slug = "plate-already-inside"
    title_vi, title_en = "Xe này đang ở trong bãi", "This vehicle is already inside"


class PlateNotInside(NotFound):
    slug = "plate-not-inside"
    title_vi, title_en = "Không có xe mang biển này trong bãi", "No vehicle with this plate is inside"


class UnrecognisedPlate(ValidationFailed):
    slug = "plate-needs-override"
    title_vi = "Biển số không đúng quy định: cần xác nhận kèm lý do"
    title_en = "Plate fits no rule: confirm it with a reason"


class PlateClassMismatch(Conflict):
    """The plate as written is another class's plate (30A-123.45 is a car, not the motorbike 30-A1 2345)."""

    slug = "plate-class-mismatch"
    title_vi = "Biển số này là của loại xe khác: chọn đúng loại xe"
    title_en = "This plate, as written, belongs to another vehicle class: choose the class"


class LotClosed(Conflict):
    slug = "lot-closed"
    title_vi, title_en = "Bãi đang đóng cửa", "The lot is closed now"


# Two lots checking the same plate in at once: the unique index decides, the caller sees a clear 409.
map_constraint(
    "parking_sessions_one_open_per_plate", PlateAlreadyInside, "plate", "this vehicle is already inside"
)


@dataclass(frozen=True)
class PlateInput:
    """A typed plate, or plate-recognition candidates [(text, score)]; the best valid candidate wins."""

    text: str | None = None
    candidates: tuple[tuple[str, float], ...] = ()
    override_reason: str | None = None
    # The attendant saw the readings of a plate-class-mismatch and chose the class anyway.
    class_confirmed: bool = False

    def texts(self) -> list[str]:
        """The typed plate, or the sure enough candidates best first; refuses an input with neither."""
        texts = [self.text] if self.text else [c for c, _ in sorted(self._sure(), key=lambda c: -c[1])]
        if not texts:
            raise ValidationFailed(
                "send a plate or plate-recognition candidates", field="plate", message="console.err.no_plate"
            )
        return texts

    def readings(self) -> list[tuple[str, float]]:
        """What candidates_inside ranks: the typed plate at score 1, or the plate reader's sure candidates."""
        return [(self.text, 1.0)] if self.text else self._sure()

    def _sure(self) -> list[tuple[str, float]]:
        """The candidates a check-in or check-out may act on by itself. A reading the plate reader is unsure
        of (score < MIN_CANDIDATE_SCORE) checked a vehicle out, or in under that plate, with nobody asked:
        only the suggestions (POST …/candidates) offer those, for a person to tap."""
        sure = [c for c in self.candidates if c[1] >= MIN_CANDIDATE_SCORE]
        if self.candidates and not sure:
            raise ValidationFailed(
                f"no reading has a score of {MIN_CANDIDATE_SCORE} or more: type the plate, or ask for "
                "suggestions",
                field="candidates",
                message="console.err.unsure_reading",
            )
        return sure


MIN_CANDIDATE_SCORE = 0.5


@dataclass(frozen=True)
class ResolvedPlate:
    compact: str
    written: str
    override_reason: str | None


def refuse_class_disagreement(text: str, vehicle_class: str) -> None:
    """Raise PlateClassMismatch, offering every reading, when `text` as written is no `vehicle_class` plate.

    The default class of the console is the motorbike, so a car typed as `30A-123.45` would otherwise be
    stored as the motorbike `30-A1 2345` and charged the motorbike fare."""
    readings = class_disagreement(text, vehicle_class)
    if readings is None:
        return
    offered = [
        {"class": r.vehicle_class, "plate_display": r.plate.written, "fits_written_form": r.agrees}
        for r in readings
    ]
    if not any(r.vehicle_class == vehicle_class for r in readings):
        try:
            own = parse_plate(text, vehicle_class).written
        except InvalidPlate:
            own = None
        if own is not None:
            offered.append({"class": vehicle_class, "plate_display": own, "fits_written_form": False})
    best = next(r for r in readings if r.agrees)
    raise PlateClassMismatch(
        f"{text!r} is written as the {best.vehicle_class} plate {best.plate.written}, not a {vehicle_class} "
        "plate; choose the class, or send class_confirmed=true to keep the chosen one",
        field="vehicle_class",
        readings=offered,
    )


# A plate taken as typed (with an override reason) is still only Latin letters, Đ and digits.
_OVERRIDE_PLATE = re.compile(r"[A-Z0-9Đ]{1,15}")


def resolve_plate(entry: PlateInput, vehicle_class: str) -> ResolvedPlate:
    options = entry.texts()
    try:  # the API refuses these already; callers that build a PlateInput themselves get the same rule
        options = [plate_text(text) for text in options]
    except InvalidPlate as exc:
        raise ValidationFailed(exc.reason, field="plate", message="form.parking_plate_characters") from None
    for text in options:
        if not entry.class_confirmed:
            refuse_class_disagreement(text, vehicle_class)
        try:
            plate = parse_plate(text, vehicle_class)
        except InvalidPlate:
            continue
        return ResolvedPlate(plate.compact, plate.written, None)
    compact = normalise_plate(options[0])
    if not entry.override_reason or len(entry.override_reason.strip()) < 5:
        raise UnrecognisedPlate(
            f"{options[0]!r} is not a valid {vehicle_class} plate; check it, or confirm it "
            "with override_reason",
            field="plate",
        )
    if not _OVERRIDE_PLATE.fullmatch(compact):
        raise ValidationFailed(
            "1–15 letters A–Z, Đ and digits", field="plate", message="console.err.override_plate"
        )
    return ResolvedPlate(compact, compact, entry.override_reason.strip())


async def ensure_attendant_of(conn: asyncpg.Connection, lot_id: str, principal) -> asyncpg.Record:
    """The active lot `lot_id`, if `principal` may act in it (an admin anywhere, an attendant in their lots):
    one round trip for both checks."""
    lot = await conn.fetchrow(
        f"SELECT l.*, {_ATTENDANT_OF} FROM parking_lots l WHERE l.id = $1 AND l.active",
        lot_id,
        _staff_id(principal),
    )
    return _may_act_in(lot, principal)


# Whether the staff user $2 is an attendant of lot `l`.
_ATTENDANT_OF = (
    "EXISTS (SELECT 1 FROM lot_attendants a WHERE a.lot_id = l.id AND a.staff_user_id = $2) AS attendant_of"
)


def _staff_id(principal) -> int | None:
    return principal.id if principal.kind == "staff" else None  # a token is never a lot's attendant


def _may_act_in(lot: asyncpg.Record | None, principal) -> asyncpg.Record:
    """`lot` (a row with attendant_of), refusing a missing or inactive lot and a principal with no right in
    it; `principal` None: the service itself (demo data, tests)."""
    if lot is None:
        raise NotFound("no such lot", field="lot_id")
    if principal is not None and principal.role != "admin" and not lot["attendant_of"]:
        raise Forbidden("you are not an attendant of this lot", field="lot_id")
    return lot


def _lot_open(row: asyncpg.Record, now: datetime) -> bool:
    if row["opens_at"] is None:
        return True
    local = now.astimezone(LOCAL_TZ).time()
    opens, closes = row["opens_at"], row["closes_at"]
    return opens <= local < closes if opens < closes else (local >= opens or local < closes)


# A check-in's first statement, which locks nothing: the lot (the caller's right to act in it, its opening
# hours), whether it takes the class ($3), and the head of the audit stream of the new session's rows ($4).
_LOT_FOR_CHECK_IN = f"""
SELECT l.*, {_ATTENDANT_OF}, cap.capacity, head.*
  FROM parking_lots l
  LEFT JOIN lot_capacities cap ON cap.lot_id = l.id AND cap.vehicle_class = $3
 CROSS JOIN ({audit_head_sql("$4")}) AS head
 WHERE l.id = $1 AND l.active"""

# The second and last, on its own (no BEGIN, no COMMIT): lock the class's capacity row, whose count of
# vehicles inside (migration 0029) is the newest one once the lock is granted, find where the plate is, and if
# neither refuses, insert the audit row at the stream position read, then the session only if that row went
# in. A position taken since the head was read writes nothing: the caller reads the head again. The capacity
# row is locked from this statement to its commit only, never while Python runs.
_CHECK_IN = f"""
WITH cap AS (
    SELECT capacity, inside FROM lot_capacities WHERE lot_id = $1 AND vehicle_class = $4 FOR UPDATE),
plate_at AS (
    SELECT lot_id FROM parking_sessions WHERE plate = $2 AND status IN ('inside', 'awaiting_payment')),
fits AS (
    SELECT coalesce((SELECT inside < capacity FROM cap), false)
           AND NOT EXISTS (SELECT 1 FROM plate_at) AS ok),
logged AS ({audit_insert_when_sql(10, "(SELECT ok FROM fits)")}),
added AS (
    INSERT INTO parking_sessions (id, lot_id, plate, plate_written, vehicle_class, plate_override_reason,
                                  recognition, entered_at, checked_in_by)
    SELECT $9, $1, $2, $3, $4, $5, $6, $7, $8
     WHERE EXISTS (SELECT 1 FROM logged)
    RETURNING *)
SELECT (SELECT inside FROM cap) AS taken_before, (SELECT capacity FROM cap) AS capacity_now,
       (SELECT lot_id FROM plate_at) AS plate_inside_lot, added.*
  FROM (SELECT) one LEFT JOIN added ON true"""


async def check_in(
    conn: asyncpg.Connection,
    *,
    lot_id: str,
    vehicle_class: str,
    entry: PlateInput,
    actor: str,
    now: datetime,
    principal=None,
) -> asyncpg.Record:
    """Check a vehicle in: two round trips, no transaction held between them (the lot with the audit head,
    then the check-in with its audit row in one statement). `principal`: whose right to act in the lot is
    checked (None: the service itself)."""
    session_id = uuid.uuid4()
    subject = f"session:{session_id}"
    stream = audit_stream("parking.check_in", subject)
    plate: ResolvedPlate | None = None
    for _ in range(_APPEND_TRIES):
        lot = _may_act_in(
            await conn.fetchrow(
                _LOT_FOR_CHECK_IN,
                lot_id,
                _staff_id(principal) if principal is not None else None,
                vehicle_class,
                stream,
            ),
            principal,
        )
        plate = plate or resolve_plate(entry, vehicle_class)
        if not _lot_open(lot, now):
            raise LotClosed(f"open {lot['opens_at']:%H:%M}–{lot['closes_at']:%H:%M}", field="lot_id")
        if lot["capacity"] is None:
            refuse_class_not_taken(vehicle_class)
        recognition = [{"plate": c, "score": s} for c, s in entry.candidates] or None
        audit_after = {
            "lot": lot_id,
            "plate": plate.written,
            "class": vehicle_class,
            "override_reason": plate.override_reason,
            "class_confirmed": entry.class_confirmed or None,
        }
        audit = prepare_audit(lot, actor=actor, action="parking.check_in", subject=subject, after=audit_after)
        try:
            async with savepoint_if_nested(conn):
                row = await conn.fetchrow(
                    _CHECK_IN,
                    lot_id,
                    plate.compact,
                    plate.written,
                    vehicle_class,
                    plate.override_reason,
                    recognition,
                    now,
                    actor,
                    session_id,
                    *audit.params(),
                )
        except asyncpg.UniqueViolationError as exc:
            # The plate checked in elsewhere between this statement's snapshot and its insert.
            if exc.constraint_name != "parking_sessions_one_open_per_plate":
                raise
            raise PlateAlreadyInside(f"{plate.written} is already inside a lot", field="plate") from None
        assert row is not None
        if row["id"] is not None:
            return row
        if row["capacity_now"] is None:  # the class's capacity row went since the lot was read
            refuse_class_not_taken(vehicle_class)
        taken, capacity = row["taken_before"], row["capacity_now"]
        if taken >= capacity:
            raise ClassFull(f"{taken} of {capacity} {vehicle_class} spaces taken", field="vehicle_class")
        if row["plate_inside_lot"] is not None:
            # Which other lot is not said: any attendant could otherwise find where any plate is parked.
            if row["plate_inside_lot"] == lot_id:
                raise PlateAlreadyInside(
                    f"{plate.written} is already inside this lot",
                    field="plate",
                    message="parking.err.inside_here",
                )
            raise PlateAlreadyInside(
                f"{plate.written} is inside another lot: that lot's attendant checks it out, or an admin "
                "voids the session",
                field="plate",
                message="parking.err.inside_elsewhere",
            )
        # It fitted, but another row took the audit stream position since the head was read: read it again.
    raise RuntimeError(f"audit stream {stream}: no free position after {_APPEND_TRIES} tries")


# Each try fails only because another session's row took the audit stream position meanwhile.
_APPEND_TRIES = 100


def refuse_class_not_taken(vehicle_class: str) -> NoReturn:
    """The lot has no spaces for this class (no capacity row, or a capacity of 0 for a correction)."""
    raise ValidationFailed(
        f"this lot takes no {vehicle_class}", field="vehicle_class", message="console.err.class_not_taken"
    )


def tariff_of(row: Mapping[str, Any] | None, zone_code: str, vehicle_class: str) -> Tariff:
    """The tariff of a `tariffs` row (None, or a row of NULLs: no tariff in force)."""
    if row is None or row["effective_from"] is None:
        raise ValidationFailed(f"no tariff for {vehicle_class} in zone {zone_code}", field="vehicle_class")
    prices = ClassTariff(
        day_turn_price=row["day_turn_price"],
        night_turn_price=row["night_turn_price"],
        hourly_blocks=tuple(tuple(b) for b in row["hourly_blocks"]),
        overnight_multiplier=Decimal(row["overnight_multiplier"]) if row["overnight_multiplier"] else None,
        monthly_pass_price=row["monthly_pass_price"],
    )
    return Tariff(
        zone=zone_code, effective_from=row["effective_from"].date(), classes={vehicle_class: prices}
    )


def quote_json(quote: FeeQuote) -> list[dict]:
    return [
        {
            "code": line.code,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": line.amount,
        }
        for line in quote.lines
    ]


async def candidates_inside(
    conn: asyncpg.Connection, lot_id: str, readings: list[tuple[str, float]], *, limit: int = 6
) -> list[dict]:
    """The vehicles inside `lot_id` that one of `readings` (typed: score 1; a plate reader's: its score) may
    mean: the same plate, look-alike characters (O/0, I/1, B/8, D/0, G/6, S/5, Z/2, T/1) or one other wrong
    character. Ranked by fewest differences, then look-alikes before a wrong character, then the reading's
    score, then the latest entry. The console's typo help and the plate scanner both use it."""
    rows = await conn.fetch(
        "SELECT id, plate, plate_written, vehicle_class, entered_at, status FROM parking_sessions "
        "WHERE lot_id = $1 AND status IN ('inside', 'awaiting_payment')",
        lot_id,
    )
    best: dict = {}
    for row in rows:
        for text, score in readings:
            match = match_plate(text, row["plate"])
            if match is None:
                continue
            key = (*match.rank, -score, -row["entered_at"].timestamp())
            if row["id"] not in best or key < best[row["id"]][0]:
                best[row["id"]] = (key, match, row)
    ranked = sorted(best.values(), key=lambda item: item[0])[:limit]
    return [
        {
            "session_id": str(row["id"]),
            "plate": row["plate_written"],
            "vehicle_class": row["vehicle_class"],
            "entered_at": row["entered_at"].isoformat(),
            "status": row["status"],
            "distance": match.distance,
            "kind": match.kind,
        }
        for _, match, row in ranked
    ]


@dataclass(frozen=True)
class CheckOut:
    session: asyncpg.Record
    payment_request_id: object | None
    payment_request: Mapping[str, Any] | None = None  # the request issued by this check-out, as inserted


# A check-out's first statement: the lot and the caller's right in it; the open session of the plate ($5, in
# order of preference) or of the id $4, locked (only when the caller may act in the lot: $3 or attendant),
# with its row version (xmin: any change to the row makes a new one); and what its exit needs: whether the
# plate has a pass for the lot, that day and its class (a motorbike 30-A1 2345 and a car 30A-123.45 share the
# compact plate 30A12345), the tariff in force for its class, the lot's collection account when
# active (NULLs otherwise), and the head of the session's audit stream.
_CHECK_OUT_TEMPLATE = f"""
WITH l AS (
    SELECT l.id, l.name, l.zone_code, l.collection_account_code, {_ATTENDANT_OF}
      FROM parking_lots l WHERE l.id = $1 AND l.active),
s AS (
    SELECT ps.*, ps.xmin::text AS row_version FROM parking_sessions ps
     WHERE ps.lot_id = $1 AND ps.status IN ('inside', 'awaiting_payment')
       AND {{_SESSION_MATCH}}
       AND EXISTS (SELECT 1 FROM l WHERE l.attendant_of OR $3)
     ORDER BY array_position($5::text[], ps.plate) LIMIT 1
       {{_LOCK}})
SELECT l.name AS lot_name, l.zone_code AS lot_zone, l.collection_account_code AS lot_collection_account,
       l.attendant_of, s.*,
       EXISTS (SELECT 1 FROM monthly_passes mp
                WHERE mp.lot_id = $1 AND mp.plate = s.plate AND mp.vehicle_class = s.vehicle_class
                  AND $6 BETWEEN mp.valid_from AND mp.valid_until)
           AS has_pass,
       t.effective_from, t.day_turn_price, t.night_turn_price, t.hourly_blocks, t.overnight_multiplier,
       t.monthly_pass_price,
       c.bin AS collection_bin, c.account_number AS collection_account, c.holder_name AS collection_holder,
       h.audit_seq, h.audit_pos, h.audit_hash
  FROM l LEFT JOIN s ON true
  LEFT JOIN LATERAL (SELECT * FROM tariffs
                      WHERE zone_code = l.zone_code AND vehicle_class = s.vehicle_class
                        AND effective_from <= $7
                      ORDER BY effective_from DESC LIMIT 1) t ON true
  LEFT JOIN payments_active_collection_accounts c ON c.code = l.collection_account_code
  LEFT JOIN LATERAL ({audit_head_sql(field_stream_sql("'session:' || s.id::text", "$8"))}) h
         ON s.id IS NOT NULL"""
# One statement per way of naming the session, so that each has a plan that finds it by an index: with
# "id = $4 OR ($4 IS NULL AND plate = ANY($5))" the generic plan of the prepared statement could use neither
# index and read every open session of the lot. And the same, locking nothing: the first statement of the
# usual exit, whose write re-checks the row version. By (lock, by session id).
_CHECK_OUT_STARTS = {
    (lock, by_id): _CHECK_OUT_TEMPLATE.replace(
        "{_SESSION_MATCH}", "ps.id = $4" if by_id else "ps.plate = ANY($5::text[]) AND $4::uuid IS NULL"
    ).replace("{_LOCK}", "FOR UPDATE OF ps" if lock else "")
    for lock in (True, False)
    for by_id in (True, False)
}

# The usual exit's second and last statement, on its own (no BEGIN, no COMMIT): lock the session if it is
# still inside and unchanged since it was read ($2: its row version), then its audit row at the stream
# position read, then only if that row went in: the session awaits its payment, and the payment request is
# inserted. No row back: the session changed or the position was taken meanwhile, and nothing was written.
_CHECK_OUT_AT_ONCE = f"""
WITH s AS (
    SELECT id FROM parking_sessions WHERE id = $1 AND xmin::text = $2 AND status = 'inside' FOR UPDATE),
logged AS ({audit_insert_when_sql(8, "EXISTS (SELECT 1 FROM s)")}),
updated AS (
    UPDATE parking_sessions ps SET status = 'awaiting_payment', exit_requested_at = $3, checked_out_by = $4,
           fee_amount = $5, fee_lines = $6, payment_request_id = $7
     WHERE ps.id = (SELECT id FROM s) AND EXISTS (SELECT 1 FROM logged) RETURNING ps.*),
issued AS ({request_insert_when_sql(8 + AUDIT_PARAMS, "EXISTS (SELECT 1 FROM updated)")})
SELECT updated.*, (SELECT id FROM issued) AS issued FROM updated"""

# The session awaits its exit payment, and its audit row (if the stream position read is still free).
_AWAIT_PAYMENT = f"""
WITH updated AS (
    UPDATE parking_sessions SET status = 'awaiting_payment', exit_requested_at = $2, checked_out_by = $3,
           fee_amount = $4, fee_lines = $5, payment_request_id = $6
     WHERE id = $1 RETURNING *),
logged AS ({audit_insert_when_sql(7, "EXISTS (SELECT 1 FROM updated)")})
SELECT updated.*, (SELECT seq FROM logged) AS audit_logged FROM updated"""


async def check_out(
    conn: asyncpg.Connection,
    keys: AppKeys,
    *,
    lot_id: str,
    entry: PlateInput,
    actor: str,
    now: datetime,
    session_id=None,
    amount_cap: int,
    payment_expiry: timedelta,
    principal=None,
) -> CheckOut:
    """Check a vehicle out. The usual exit (a vehicle inside, no pass, a fee to pay) takes two round trips and
    holds no transaction between them: its terms read, then the payment request, the session and its audit
    row written in one statement that re-checks the session is unchanged. Any other exit, and one whose
    session changed in between, takes the locking path. `principal`: whose right to act in the lot is checked
    (None: the service itself)."""
    steps = _Exit(
        conn,
        keys,
        lot_id=lot_id,
        entry=entry,
        session_id=session_id,
        actor=actor,
        now=now,
        amount_cap=amount_cap,
        payment_expiry=payment_expiry,
        principal=principal,
    )
    start = await steps.start(lock=False)
    if start["status"] == "inside" and not start["has_pass"] and start["collection_bin"] is not None:
        done = await steps.at_once(start)
        if done is not None:
            return done
    async with conn.transaction():
        return await steps.locked(await steps.start(lock=True))


@dataclass(frozen=True)
class _Exit:
    """One check-out's arguments, and its steps."""

    conn: asyncpg.Connection
    keys: AppKeys
    lot_id: str
    entry: PlateInput
    session_id: Any
    actor: str
    now: datetime
    amount_cap: int
    payment_expiry: timedelta
    principal: Any

    @property
    def texts(self) -> list[str]:
        """The plates the attendant typed or the camera read; none when they confirmed a suggested session.
        Refuses a check-out naming neither (start() asks for it before its round trip)."""
        return [] if self.session_id is not None else self.entry.texts()

    async def start(self, *, lock: bool) -> asyncpg.Record:
        """The lot, the open session (locked if `lock`) and its exit terms; refuses a lot the caller may not
        act in and a vehicle not inside."""
        principal = self.principal
        start = _may_act_in(
            await self.conn.fetchrow(
                _CHECK_OUT_STARTS[lock, self.session_id is not None],
                self.lot_id,
                _staff_id(principal) if principal is not None else None,
                principal is None or principal.role == "admin",
                self.session_id,
                [normalise_plate(t) for t in self.texts],
                business_date_of(self.now),
                self.now,
                audit.FIELD_STREAMS,
            ),
            principal,
        )
        if start["id"] is None:
            if self.session_id is not None:
                raise PlateNotInside("that session is not open in this lot", field="session_id")
            suggestions = await candidates_inside(self.conn, self.lot_id, self.entry.readings())
            raise PlateNotInside(
                f"{self.texts[0]} is not inside this lot", field="plate", suggestions=suggestions
            )
        return start

    def quote(self, start: asyncpg.Record) -> FeeQuote:
        tariff = tariff_of(start, start["lot_zone"], start["vehicle_class"])
        return quote_exit_fee(tariff, start["vehicle_class"], start["entered_at"], self.now)

    def request(self, start: asyncpg.Record, quote: FeeQuote) -> NewRequest:
        """The exit payment request of the session `start` for `quote`."""
        collection = None
        if start["collection_bin"] is not None:
            collection = (start["collection_bin"], start["collection_account"], start["collection_holder"])
        return NewRequest(
            kind="parking",
            fee_code=None,
            amount=quote.amount,
            purpose_vi=f"Phí gửi xe {start['plate_written']} tại {start['lot_name']}"[:200],
            purpose_en=f"Parking {start['plate_written']} at {start['lot_name']}"[:200],
            revenue_account=accounts.parking_revenue(self.lot_id),
            collection_account_code=start["lot_collection_account"],
            collection_account=collection,
            expires_in=self.payment_expiry,
            payer_reference=f"parking:{start['id']}",
        )

    async def at_once(self, start: asyncpg.Record) -> CheckOut | None:
        """The usual exit in one statement; None, with nothing written, when it is not one after all (no fee)
        or the session or its audit stream moved since `start` was read."""
        quote = self.quote(start)
        if quote.amount == 0:
            return None
        request = prepare_request(
            self.request(start, quote),
            created_by=self.actor,
            amount_cap=self.amount_cap,
            default_expiry=self.payment_expiry,
            now=self.now,  # the exit payment is dated at the check-out, on the same clock as the session
        )
        subject = f"session:{start['id']}"
        audit_after = {"fee": quote.amount, "payment_request": str(request.id)}
        row = prepare_audit(
            start, actor=self.actor, action="parking.check_out", subject=subject, after=audit_after
        )
        async with savepoint_if_nested(self.conn):
            session = await self.conn.fetchrow(
                _CHECK_OUT_AT_ONCE,
                start["id"],
                start["row_version"],
                self.now,
                self.actor,
                quote.amount,
                quote_json(quote),
                request.id,
                *row.params(),
                *request.params(),
            )
        if session is None:
            return None
        return CheckOut(session, request.id, request.record)

    async def locked(self, session: asyncpg.Record) -> CheckOut:
        """Any exit, in the caller's transaction, with the session locked by `session`'s statement."""
        conn, actor, now = self.conn, self.actor, self.now
        if session["status"] == "awaiting_payment":
            pending = await request_status(conn, session["payment_request_id"])
            if pending == "pending":  # a second attendant (or a retry): the same request, not a new one
                return CheckOut(session, session["payment_request_id"])
            # A new QR replaces the expired one, which must no longer take a late payment.
            was = await supersede_request(
                conn, session["payment_request_id"], actor=actor, reason="a new exit QR code replaced it"
            )
            if was in ("pending", "paid"):  # paid or renewed since the read above: start again
                raise Conflict(
                    "this turn's payment changed meanwhile; look at the vehicle again",
                    field="session_id",
                    message="console.err.payment_changed",
                )
        if session["has_pass"]:
            closed = await _close(conn, session, reason="pass", actor=actor, now=now, fee=0, lines=[])
            return CheckOut(closed, None)
        quote = self.quote(session)
        if quote.amount == 0:
            closed = await _close(
                conn, session, reason="free", actor=actor, now=now, fee=0, lines=quote_json(quote)
            )
            return CheckOut(closed, None)
        request = await issue_payment_request(
            conn,
            self.keys,
            self.request(session, quote),
            created_by=actor,
            amount_cap=self.amount_cap,
            default_expiry=self.payment_expiry,
            now=now,  # the exit payment is dated at the check-out, on the same clock as the session
        )
        subject = f"session:{session['id']}"
        audit_after = {"fee": quote.amount, "payment_request": str(request["id"])}
        row = prepare_audit(
            session, actor=actor, action="parking.check_out", subject=subject, after=audit_after
        )
        updated = await conn.fetchrow(
            _AWAIT_PAYMENT,
            session["id"],
            now,
            actor,
            quote.amount,
            quote_json(quote),
            request["id"],
            *row.params(),
        )
        if updated["audit_logged"] is None:  # another row took the stream position since the head was read
            await record_audit(
                conn, actor=actor, action="parking.check_out", subject=subject, after=audit_after
            )
        return CheckOut(updated, request["id"], request)


async def _close(
    conn: asyncpg.Connection,
    session: asyncpg.Record,
    *,
    reason: str,
    actor: str,
    now: datetime,
    fee: int | None = None,
    lines: list | None = None,
    cash_reason: str | None = None,
) -> asyncpg.Record:
    closed = await conn.fetchrow(
        """UPDATE parking_sessions SET status = 'closed', close_reason = $2, closed_at = $3, closed_by = $4,
               fee_amount = coalesce($5, fee_amount), fee_lines = coalesce($6, fee_lines),
               cash_reason = $7, exit_requested_at = coalesce(exit_requested_at, $3),
               checked_out_by = coalesce(checked_out_by, $4)
         WHERE id = $1 RETURNING *""",
        session["id"],
        reason,
        now,
        actor,
        fee,
        lines,
        cash_reason,
    )
    await record_audit(
        conn,
        actor=actor,
        action=f"parking.close_{reason}",
        subject=f"session:{session['id']}",
        after={"fee": closed["fee_amount"], "cash_reason": cash_reason},
    )
    return closed


async def record_cash(
    conn: asyncpg.Connection, *, session_id, lot_id: str, reason: str, actor: str, now: datetime
) -> asyncpg.Record:
    """An exception, not a way to pay: the attendant took cash and says why. The fee is booked as cash held by
    the lot, so the money stays traceable and the turn counts against the lot's cashless share."""
    if len(reason.strip()) < 5:
        raise ValidationFailed(
            "say why cash was taken (at least 5 characters)",
            field="reason",
            message="console.js.reason_short",
        )
    async with conn.transaction():
        session = await conn.fetchrow(
            "SELECT * FROM parking_sessions WHERE id = $1 AND lot_id = $2 FOR UPDATE", session_id, lot_id
        )
        if session is None:
            raise NotFound("no such session in this lot", field="session_id")
        if session["status"] != "awaiting_payment":
            raise Conflict("cash can only be recorded after check-out quoted a fee", field="session_id")
        request_state = await supersede_request(
            conn, session["payment_request_id"], actor=actor, reason="parking fee taken in cash"
        )
        if request_state == "paid":
            raise Conflict("this turn is already paid by transfer", field="session_id")
        await post_entry(
            conn,
            idempotency_key=f"parking-cash:{session['id']}",
            kind="parking.cash",
            business_date=business_date_of(now),
            lines=[
                (accounts.lot_cash(lot_id), session["fee_amount"]),
                (accounts.parking_revenue(lot_id), -session["fee_amount"]),
            ],
            refs={"session": str(session["id"])},
            memo=reason[:200],
        )
        return await _close(conn, session, reason="cash", actor=actor, now=now, cash_reason=reason.strip())


async def void_session(
    conn: asyncpg.Connection, *, session_id, reason: str, actor: str, now: datetime
) -> asyncpg.Record:
    if len(reason.strip()) < 5:
        raise ValidationFailed(
            "say why the session is voided (at least 5 characters)",
            field="reason",
            message="console.js.reason_short",
        )
    async with conn.transaction():
        session = await conn.fetchrow("SELECT * FROM parking_sessions WHERE id = $1 FOR UPDATE", session_id)
        if session is None:
            raise NotFound("no such session", field="session_id")
        if session["status"] not in ("inside", "awaiting_payment"):
            raise Conflict(
                f"the session is {session['status']}", field="session_id", message="console.err.finished"
            )
        if session["payment_request_id"]:
            await supersede_request(
                conn, session["payment_request_id"], actor=actor, reason="parking session voided"
            )
        row = await conn.fetchrow(
            """UPDATE parking_sessions SET status = 'voided', void_reason = $2, closed_at = $3, closed_by = $4
             WHERE id = $1 RETURNING *""",
            session_id,
            reason.strip(),
            now,
            actor,
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.void",
            subject=f"session:{session_id}",
            before={"status": session["status"]},
            after={"reason": reason.strip()},
        )
    return row
