-- Business days and day close: a closed day is frozen (no entry may be dated on or before the last closed
-- day; corrections are reversing entries in an open day), and each close keeps every account's closing
-- balance as a snapshot, so balances read the last snapshot plus the open days instead of all history.

CREATE TABLE ledger_closed_days (
    business_date date PRIMARY KEY,
    closed_at     timestamptz NOT NULL DEFAULT now(),
    closed_by     text NOT NULL CHECK (length(closed_by) BETWEEN 1 AND 200)
);

-- Closing balance (debits − credits) of every account that has postings up to the closed day.
CREATE TABLE ledger_balance_snapshots (
    business_date date NOT NULL REFERENCES ledger_closed_days(business_date),
    account_id    bigint NOT NULL REFERENCES ledger_accounts(id),
    balance       bigint NOT NULL,
    PRIMARY KEY (business_date, account_id)
);

CREATE TRIGGER ledger_closed_days_immutable BEFORE UPDATE OR DELETE ON ledger_closed_days
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_closed_days_no_truncate BEFORE TRUNCATE ON ledger_closed_days
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_balance_snapshots_immutable BEFORE UPDATE OR DELETE ON ledger_balance_snapshots
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_balance_snapshots_no_truncate BEFORE TRUNCATE ON ledger_balance_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Days close in order: closing a day freezes it and every day before it. close_day takes
-- `LOCK TABLE journal_entries IN SHARE MODE`, so no entry of that day can be in flight while it closes.
CREATE FUNCTION refuse_entry_on_closed_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_closed date;
BEGIN
    -- A repeat of an existing key goes on to ON CONFLICT, which returns the original entry (idempotency
    -- outlives the day close); only new entries are refused.
    IF EXISTS (SELECT 1 FROM journal_entries WHERE idempotency_key = NEW.idempotency_key) THEN
        RETURN NEW;
    END IF;
    SELECT max(business_date) INTO last_closed FROM ledger_closed_days;
    IF last_closed IS NOT NULL AND NEW.business_date <= last_closed THEN
        RAISE EXCEPTION 'business day % is closed (closed through %); post a correction in an open day',
            NEW.business_date, last_closed
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_day_closed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER journal_entries_open_day BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_entry_on_closed_day();

-- The balance check once per entry, not once per posting: `postings_balanced` re-summed the whole entry for
-- every line (a 10,000-line entry: 10,000 sums of 10,000 rows at commit). It is redundant: a posting can only
-- join an entry made in the same transaction (`postings_take_entry_date`), and that entry's own deferred
-- `journal_entries_balanced` checks all of its postings at commit.
DROP TRIGGER postings_balanced ON postings;
