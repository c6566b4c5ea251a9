-- Day close must wait for entries in flight and hold new ones back while it snapshots (ledger/days.py). It
-- did that with `LOCK TABLE journal_entries IN SHARE MODE`, which needs UPDATE, DELETE or TRUNCATE rights
-- that the service role citypay_app rightly lacks on the append-only journal (0007). This function takes the
-- same lock with its owner's rights and does nothing else; the lock lasts until the caller's transaction ends.
CREATE FUNCTION ledger_lock_entries_for_close() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    LOCK TABLE journal_entries IN SHARE MODE;
END;
$$;
REVOKE ALL ON FUNCTION ledger_lock_entries_for_close() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_lock_entries_for_close() TO citypay_app;
