-- The simulator's copy of citypay's outbox table (migrations/0009_outbox.sql, kept identical): banksim's
-- callback deliveries are sent through core/outbox.py.

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    payload         jsonb NOT NULL,
    idempotency_key text NOT NULL CHECK (idempotency_key ~ '^[!-~]{1,255}$'),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    last_error      text CHECK (length(last_error) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    CONSTRAINT outbox_idempotency_key_key UNIQUE (idempotency_key),
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)),
    CHECK ((state = 'sending') = (lease_until IS NOT NULL)),
    CHECK ((state = 'done') = (done_at IS NOT NULL))
);
-- What a worker looks for: due pending items, and claims whose lease ran out.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE state = 'sending';
