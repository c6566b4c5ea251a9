-- Issue 13, point 3: no global lock on the audit chain on hot paths. Rows are chained per stream: "main" for
-- staff administration (rare: one chain, one lock, as before) and a fixed set of "field:NN" streams for the
-- parking session actions (every check-in and check-out), chosen by subject, each with its own lock. Every
-- stream is a keyed hash chain with positions 1, 2, 3 … (stream_seq, covered by the hash); `audit verify`
-- walks every stream and the signed checkpoints record every stream's head (core/audit.py).
-- Rows written before this migration keep stream NULL: they are the main stream, at position = seq.
ALTER TABLE audit_log
    ADD COLUMN stream text CHECK (stream ~ '^[a-z][a-z0-9]*(:[a-z0-9]+)?$'),
    ADD COLUMN stream_seq bigint CHECK (stream_seq > 0),
    ADD CONSTRAINT audit_log_stream_position CHECK ((stream IS NULL) = (stream_seq IS NULL));
CREATE UNIQUE INDEX audit_log_stream_positions ON audit_log (stream, stream_seq);
-- The main stream's head before its first streamed row (and the walk over rows after a checkpoint).
CREATE INDEX audit_log_unstreamed ON audit_log (seq) WHERE stream IS NULL;

-- seq stays the global order and primary key, now from a sequence (no lock to take max(seq) + 1); gaps left
-- by rolled-back transactions are harmless: the positions inside each stream are what must be contiguous.
CREATE SEQUENCE audit_log_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq', coalesce(max(seq), 0) + 1, false) FROM audit_log;
GRANT USAGE, SELECT ON SEQUENCE audit_log_seq TO citypay_app;
