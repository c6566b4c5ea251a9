-- The keyed audit chain, the service's database role, and the marker of a demo installation (issue 8: 14, 16).

-- Audit rows say how their hash was made. Rows from before this migration keep the unkeyed SHA-256 chain and
-- are verified the old way; every later row is HMAC-SHA256 under the audit key, which the database never holds
-- (key_id names the key without revealing it). Adding a column with a default rewrites no row.
ALTER TABLE audit_log
    ADD COLUMN alg text NOT NULL DEFAULT 'sha256' CHECK (alg IN ('sha256', 'hmac-sha256')),
    ADD COLUMN key_id text,
    ADD CONSTRAINT audit_log_keyed_rows_name_their_key CHECK ((alg = 'hmac-sha256') = (key_id IS NOT NULL));
ALTER TABLE audit_log ALTER COLUMN alg DROP DEFAULT;  -- existing rows keep 'sha256'; new ones must say

-- Where the unkeyed chain ends: every row after legacy_until must be keyed (no downgrade of the tail).
CREATE TABLE audit_chain_meta (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    legacy_until bigint NOT NULL CHECK (legacy_until >= 0),
    keyed_since  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chain_meta (legacy_until) SELECT coalesce(max(seq), 0) FROM audit_log;
CREATE TRIGGER audit_chain_meta_immutable BEFORE UPDATE OR DELETE ON audit_chain_meta
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_chain_meta_no_truncate BEFORE TRUNCATE ON audit_chain_meta
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE FUNCTION audit_log_only_keyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alg <> 'hmac-sha256' THEN
        RAISE EXCEPTION 'new audit rows must be keyed (alg hmac-sha256)'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_log_only_keyed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_only_keyed BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_only_keyed();

-- Written once by `python main.py up` with CITYPAY_DEMO=1 when it loads demo data into an empty database.
-- Demo mode refuses a database that has staff or payments but no such row. Only the owner role writes it.
CREATE TABLE demo_installation (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- The service's role ------------------------------------------------------------------------------------
-- Migrations run as the owner of the tables; the service connects as citypay_app (or as a login role that is
-- a member of it): it reads and writes rows but owns nothing, so it cannot ALTER or DISABLE TRIGGER, TRUNCATE,
-- or SET session_replication_role, and it may not UPDATE or DELETE the append-only tables at all.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'citypay_app') THEN
        BEGIN
            CREATE ROLE citypay_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- a migrator of another database on this server made it a moment ago
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role citypay_app does not exist and % may not create it', current_user
                    USING HINT = 'create it first: CREATE ROLE citypay_app LOGIN PASSWORD ''…'' (README, "A real server")';
        END;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO citypay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO citypay_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO citypay_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, journal_entries, postings, payments_received, receipts
    FROM citypay_app;
REVOKE DELETE, TRUNCATE ON payment_requests FROM citypay_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations, audit_chain_meta, demo_installation
    FROM citypay_app;

-- Tables and sequences that later migrations create (run by this same owner role) get the same row rights.
-- A later migration that adds an append-only table revokes UPDATE, DELETE on it FROM citypay_app itself.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO citypay_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO citypay_app;
