-- The sweeper's lifecycle work (store.Lifecycle).

-- READY files whose object the sweeper checked, and found missing.
ALTER TABLE files ADD COLUMN checked_at timestamptz;
ALTER TABLE files ADD COLUMN object_missing_since timestamptz;

-- Expired uploads across tenants, oldest expiry first.
CREATE INDEX files_pending_expires ON files (upload_expires) WHERE state = 'PENDING';
-- READY files least recently checked first (never checked: NULL, first).
CREATE INDEX files_ready_checked ON files (checked_at NULLS FIRST, id) WHERE state = 'READY';

-- Objects to remove from their backends, kept until removed: written in the
-- same transaction as the record change that orphans the object.
-- next_attempt is when the deletion is due, or when a claim's lease ends.
CREATE TABLE object_deletions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backend      text        NOT NULL,
    object_key   text        NOT NULL,
    file_id      text        NOT NULL,
    tenant       text        NOT NULL,
    reason       text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    next_attempt timestamptz NOT NULL
);
CREATE INDEX object_deletions_due ON object_deletions (next_attempt, id);
