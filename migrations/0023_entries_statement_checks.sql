-- Issue 13, point 3: the other per-row guards of the posting path.

-- A closed day refuses new entries: once per INSERT statement over the rows it actually inserted (a repeat of
-- an existing key goes to ON CONFLICT DO NOTHING and is not in the transition table, so idempotent repeats
-- still return the original entry after the day closed). close_day still takes
-- `LOCK TABLE journal_entries IN SHARE MODE`, which waits for every transaction that inserted entries.
DROP TRIGGER journal_entries_open_day ON journal_entries;
DROP FUNCTION refuse_entry_on_closed_day();
CREATE FUNCTION refuse_entries_on_closed_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_closed date;
    earliest date;
BEGIN
    SELECT max(business_date) INTO last_closed FROM ledger_closed_days;
    IF last_closed IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT min(business_date) INTO earliest FROM new_entries;
    IF earliest <= last_closed THEN
        RAISE EXCEPTION 'business day % is closed (closed through %); post a correction in an open day',
            earliest, last_closed
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_day_closed';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER journal_entries_open_day AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_entries_on_closed_day();

-- Only bank accounts need the registry look-up; every other path skips the function call (WHEN is evaluated
-- in the executor). post_entry no longer sends existing paths through INSERT … ON CONFLICT at all.
DROP TRIGGER ledger_bank_account_registered ON ledger_accounts;
CREATE TRIGGER ledger_bank_account_registered BEFORE INSERT OR UPDATE OF path ON ledger_accounts
    FOR EACH ROW WHEN (NEW.path LIKE 'asset:bank:%') EXECUTE FUNCTION ledger_bank_accounts_are_registered();
