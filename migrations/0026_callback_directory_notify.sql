-- Issue 13: bank callbacks read the bank profiles, their keys and the collection accounts from a cache in each
-- server process (payments/callback_directory.py) instead of querying them on every callback. Every change to
-- those tables, by citypay or by hand in SQL, notifies every process at its COMMIT, and each drops its cache
-- before its next callback: a retired key, a deactivated profile or a changed account takes effect at once.
-- Statement-level triggers: one notification per statement (PostgreSQL folds identical ones of a transaction
-- into one), whatever the number of rows, and TRUNCATE included.
CREATE FUNCTION callback_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('citypay_callback_directory_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER bank_profiles_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bank_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION callback_directory_changed();
CREATE TRIGGER bank_keys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bank_keys
    FOR EACH STATEMENT EXECUTE FUNCTION callback_directory_changed();
CREATE TRIGGER collection_accounts_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON collection_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION callback_directory_changed();
