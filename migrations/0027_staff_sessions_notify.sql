-- Issue 13: a staff member's session is checked against a cache in each server process (core/session_cache.py)
-- instead of a query on every request. Whatever can end a session or change what it may do — a logout, a
-- revocation, a deactivation, a new password, a role changed by hand in SQL — is an UPDATE, DELETE or TRUNCATE
-- of staff_sessions or staff_users: it notifies every process at its COMMIT, and each empties its cache before
-- its next request. A new session (INSERT) is not cached until it is used, so logins notify nobody.
CREATE FUNCTION staff_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('citypay_staff_sessions_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER staff_sessions_notify AFTER UPDATE OR DELETE OR TRUNCATE ON staff_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION staff_sessions_changed();
CREATE TRIGGER staff_users_notify AFTER UPDATE OR DELETE OR TRUNCATE ON staff_users
    FOR EACH STATEMENT EXECUTE FUNCTION staff_sessions_changed();
