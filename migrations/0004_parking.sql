-- Parking: zones and versioned tariffs, lots with capacities and attendants, monthly passes, and sessions.

CREATE TABLE parking_zones (
    code    text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,30}$'),
    name_vi text NOT NULL,
    name_en text NOT NULL
);

CREATE TABLE parking_lots (
    id                      text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,60}$'),
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address                 text NOT NULL,
    ward                    text NOT NULL,
    lat                     double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                     double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    zone_code               text NOT NULL REFERENCES parking_zones(code),
    opens_at                time,  -- both NULL: open day and night
    closes_at               time,
    collection_account_code text NOT NULL REFERENCES collection_accounts(code),
    active                  boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT parking_lots_hours CHECK ((opens_at IS NULL) = (closes_at IS NULL))
);
CREATE INDEX parking_lots_ward ON parking_lots (ward);

CREATE TABLE lot_capacities (
    lot_id        text NOT NULL REFERENCES parking_lots(id),
    vehicle_class text NOT NULL CHECK (vehicle_class IN ('bicycle', 'motorbike', 'car', 'large_car')),
    capacity      integer NOT NULL CHECK (capacity >= 0),
    PRIMARY KEY (lot_id, vehicle_class)
);

CREATE TABLE lot_attendants (
    lot_id        text NOT NULL REFERENCES parking_lots(id),
    staff_user_id bigint NOT NULL REFERENCES staff_users(id),
    PRIMARY KEY (lot_id, staff_user_id)
);

-- Versioned: the tariff in force at a moment is the latest effective_from at or before it.
CREATE TABLE tariffs (
    id                   bigserial PRIMARY KEY,
    zone_code            text NOT NULL REFERENCES parking_zones(code),
    vehicle_class        text NOT NULL CHECK (vehicle_class IN ('bicycle', 'motorbike', 'car', 'large_car')),
    effective_from       timestamptz NOT NULL,
    day_turn_price       bigint NOT NULL CHECK (day_turn_price >= 0),
    night_turn_price     bigint NOT NULL CHECK (night_turn_price >= 0),
    hourly_blocks        jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [[from_hour, price_per_hour], …]
    overnight_multiplier numeric(6, 2) CHECK (overnight_multiplier >= 1),
    monthly_pass_price   bigint CHECK (monthly_pass_price >= 0),
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (zone_code, vehicle_class, effective_from)
);

CREATE TABLE monthly_passes (
    id            bigserial PRIMARY KEY,
    lot_id        text NOT NULL REFERENCES parking_lots(id),
    plate         text NOT NULL,
    vehicle_class text NOT NULL CHECK (vehicle_class IN ('bicycle', 'motorbike', 'car', 'large_car')),
    valid_from    date NOT NULL,
    valid_until   date NOT NULL,
    price         bigint NOT NULL CHECK (price >= 0),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT monthly_passes_window CHECK (valid_until >= valid_from)
);
CREATE INDEX monthly_passes_plate ON monthly_passes (plate, lot_id);

CREATE TABLE parking_sessions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lot_id                text NOT NULL REFERENCES parking_lots(id),
    plate                 text NOT NULL,  -- compact form: upper-case, no separators
    plate_written         text NOT NULL,
    vehicle_class         text NOT NULL CHECK (vehicle_class IN ('bicycle', 'motorbike', 'car', 'large_car')),
    plate_override_reason text,  -- set when the plate fits no rule and the attendant vouched for it
    recognition           jsonb,  -- plate-recognition candidates, when the plate came from a camera
    entered_at            timestamptz NOT NULL,
    checked_in_by         text NOT NULL,
    exit_requested_at     timestamptz,
    checked_out_by        text,
    fee_amount            bigint CHECK (fee_amount >= 0),
    fee_lines             jsonb,
    payment_request_id    uuid UNIQUE REFERENCES payment_requests(id),
    status                text NOT NULL DEFAULT 'inside'
                          CHECK (status IN ('inside', 'awaiting_payment', 'closed', 'voided')),
    close_reason          text CHECK (close_reason IN ('paid', 'pass', 'cash', 'free')),
    cash_reason           text,
    void_reason           text,
    closed_at             timestamptz,
    closed_by             text,
    CONSTRAINT parking_sessions_closed CHECK ((status = 'closed') = (close_reason IS NOT NULL)),
    CONSTRAINT parking_sessions_cash_reason CHECK (close_reason <> 'cash' OR length(cash_reason) >= 5),
    CONSTRAINT parking_sessions_void_reason CHECK (status <> 'voided' OR length(void_reason) >= 5)
);
-- A vehicle is inside one lot at a time.
CREATE UNIQUE INDEX parking_sessions_one_open_per_plate ON parking_sessions (plate)
    WHERE status IN ('inside', 'awaiting_payment');
CREATE INDEX parking_sessions_lot_open ON parking_sessions (lot_id, vehicle_class) WHERE status IN ('inside', 'awaiting_payment');
CREATE INDEX parking_sessions_lot_day ON parking_sessions (lot_id, entered_at);

-- When a parking payment request is paid (by the bank callback), its session closes as paid, in the same
-- transaction. A trigger keeps the dependency one-way: payments knows nothing of parking.
CREATE FUNCTION close_parking_session_when_paid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parking_sessions
       SET status = 'closed', close_reason = 'paid', closed_at = NEW.settled_at, closed_by = 'bank'
     WHERE payment_request_id = NEW.id AND status = 'awaiting_payment';
    RETURN NULL;
END $$;
CREATE TRIGGER payment_requests_close_parking AFTER UPDATE OF status ON payment_requests
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status <> 'paid' AND NEW.kind = 'parking')
    EXECUTE FUNCTION close_parking_session_when_paid();
