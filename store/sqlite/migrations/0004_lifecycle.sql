-- The sweeper's lifecycle work (store.Lifecycle).

-- READY files whose object the sweeper checked, and found missing.
ALTER TABLE files ADD COLUMN checked_at INTEGER;
ALTER TABLE files ADD COLUMN object_missing_since INTEGER;

-- Expired uploads across tenants, oldest expiry first.
CREATE INDEX files_pending_expires ON files (upload_expires) WHERE state = 'PENDING';
-- READY files least recently checked first (never checked: NULL, first).
CREATE INDEX files_ready_checked ON files (checked_at, id) WHERE state = 'READY';

-- Objects to remove from their backends, kept until removed: written in the
-- same transaction as the record change that orphans the object.
-- next_attempt is when the deletion is due, or when a claim's lease ends.
CREATE TABLE object_deletions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    backend      TEXT    NOT NULL,
    object_key   TEXT    NOT NULL,
    file_id      TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL
) STRICT;
CREATE INDEX object_deletions_due ON object_deletions (next_attempt, id);
