-- Issue 13 (parking throughput): each capacity row keeps the number of its class's vehicles inside the lot
-- (sessions 'inside' or 'awaiting_payment'), so a check-in is one statement: it locks the row, and the row
-- version it locks (after waiting for a concurrent check-in, the newest one) carries the count it checks.
-- Counting the sessions instead needs a second statement after the lock, as a statement that waited for a
-- lock still sees only the rows of its snapshot. Triggers keep the count, so no writer can forget it.
-- No session may change between the count below and the triggers that keep it (a server of the previous
-- version may still be running while this migrates): the lock lets reads through and waits for writers.
LOCK TABLE parking_sessions IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE lot_capacities ADD COLUMN inside integer NOT NULL DEFAULT 0 CHECK (inside >= 0);

UPDATE lot_capacities c
   SET inside = (SELECT count(*) FROM parking_sessions s
                  WHERE s.lot_id = c.lot_id AND s.vehicle_class = c.vehicle_class
                    AND s.status IN ('inside', 'awaiting_payment'));

-- A new capacity row starts from the sessions already open in its class (none through the API, which refuses
-- a class the lot does not take, but the count must be right whoever inserts the row).
CREATE FUNCTION lot_capacities_count_inside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.inside := (SELECT count(*) FROM parking_sessions s
                    WHERE s.lot_id = NEW.lot_id AND s.vehicle_class = NEW.vehicle_class
                      AND s.status IN ('inside', 'awaiting_payment'));
    RETURN NEW;
END $$;
CREATE TRIGGER lot_capacities_inside_at_insert BEFORE INSERT ON lot_capacities
    FOR EACH ROW EXECUTE FUNCTION lot_capacities_count_inside();

-- A session that opens, closes, or moves to another lot or class (a correction) moves the counts. A class with
-- no capacity row has no count to keep.
CREATE FUNCTION parking_sessions_keep_inside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('inside', 'awaiting_payment') THEN
        UPDATE lot_capacities SET inside = inside - 1
         WHERE lot_id = OLD.lot_id AND vehicle_class = OLD.vehicle_class;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN ('inside', 'awaiting_payment') THEN
        UPDATE lot_capacities SET inside = inside + 1
         WHERE lot_id = NEW.lot_id AND vehicle_class = NEW.vehicle_class;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER parking_sessions_inside_at_insert AFTER INSERT ON parking_sessions
    FOR EACH ROW WHEN (NEW.status IN ('inside', 'awaiting_payment'))
    EXECUTE FUNCTION parking_sessions_keep_inside();
-- The WHEN skips the updates that change no count (a check-out: inside to awaiting_payment) without a call.
CREATE TRIGGER parking_sessions_inside_at_update AFTER UPDATE OF status, lot_id, vehicle_class
    ON parking_sessions
    FOR EACH ROW WHEN ((OLD.status IN ('inside', 'awaiting_payment')) <> (NEW.status IN ('inside', 'awaiting_payment'))
                       OR OLD.lot_id <> NEW.lot_id OR OLD.vehicle_class <> NEW.vehicle_class)
    EXECUTE FUNCTION parking_sessions_keep_inside();
CREATE TRIGGER parking_sessions_inside_at_delete AFTER DELETE ON parking_sessions
    FOR EACH ROW WHEN (OLD.status IN ('inside', 'awaiting_payment'))
    EXECUTE FUNCTION parking_sessions_keep_inside();
-- TRUNCATE fires no row trigger: emptying the sessions empties every count.
CREATE FUNCTION parking_sessions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lot_capacities SET inside = 0 WHERE inside <> 0;
    RETURN NULL;
END $$;
CREATE TRIGGER parking_sessions_inside_at_truncate AFTER TRUNCATE ON parking_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION parking_sessions_truncated();
