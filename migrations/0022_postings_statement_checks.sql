-- Issue 13, point 3: the postings guards once per INSERT statement (a transition table) instead of a PL/pgSQL
-- call per line. What they guarantee is unchanged or stricter:
--   * a posting joins only an entry made in the same transaction (posted_at = the transaction's start), so a
--     posted entry never gains lines, balanced or not;
--   * a posting carries its entry's business date (the insert now says it; checked here, not looked up);
--   * all lines of an entry arrive in ONE statement (ledger/entries.py and ledger/pending.py insert them with
--     one INSERT … SELECT unnest), at least two, summing to zero; a later statement adding lines to an entry
--     of the same transaction is refused at once (before, only an unbalancing one was refused, at commit).
-- What stays deferred to commit: an entry with no postings at all (journal_entries_balanced, once per entry).

-- The entry's date comes with the insert. An insert that leaves it out still gets it from the entry, but only
-- then: WHEN is evaluated without calling the function, so inserts that supply it run no row trigger.
DROP TRIGGER postings_entry_date ON postings;
CREATE OR REPLACE FUNCTION postings_take_entry_date() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT business_date INTO STRICT NEW.business_date FROM journal_entries WHERE id = NEW.entry_id;
    RETURN NEW;
END $$;
CREATE TRIGGER postings_entry_date BEFORE INSERT ON postings
    FOR EACH ROW WHEN (NEW.business_date IS NULL) EXECUTE FUNCTION postings_take_entry_date();

CREATE FUNCTION postings_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    in_table bigint;
BEGIN
    SELECT n.entry_id, n.business_date, e.business_date AS entry_date,
           e.posted_at <> transaction_timestamp() AS posted_before
      INTO bad
      FROM new_postings n JOIN journal_entries e ON e.id = n.entry_id
     WHERE e.posted_at <> transaction_timestamp() OR n.business_date <> e.business_date
     ORDER BY e.posted_at <> transaction_timestamp() DESC
     LIMIT 1;
    IF FOUND THEN
        IF bad.posted_before THEN
            RAISE EXCEPTION 'journal entry % is already posted; record a correction instead', bad.entry_id
                USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'immutable_rows';
        END IF;
        RAISE EXCEPTION 'a posting of journal entry % is dated % but the entry is dated %',
            bad.entry_id, bad.business_date, bad.entry_date
            USING ERRCODE = 'check_violation', CONSTRAINT = 'postings_entry_date';
    END IF;

    SELECT t.entry_id, t.n, t.total INTO bad
      FROM (SELECT entry_id, count(*) AS n, sum(amount) AS total FROM new_postings GROUP BY entry_id) t
     WHERE t.n < 2 OR t.total <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced (% postings, sum %)', bad.entry_id, bad.n, bad.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
    END IF;

    -- None of the entries had lines before this statement (their lines are exactly this statement's).
    SELECT t.entry_id, t.n, (SELECT count(*) FROM postings p WHERE p.entry_id = t.entry_id) AS in_table
      INTO bad
      FROM (SELECT entry_id, count(*) AS n FROM new_postings GROUP BY entry_id) t
     WHERE (SELECT count(*) FROM postings p WHERE p.entry_id = t.entry_id) <> t.n
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % already has postings; all lines of an entry are inserted by one statement',
            bad.entry_id
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'immutable_rows';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_checked AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION postings_check_statement();
