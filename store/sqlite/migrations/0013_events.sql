-- Upload events (store.Outbox): who completed an upload, the events a
-- state change writes in its own transaction, and their deliveries.
ALTER TABLE files ADD COLUMN completed_by TEXT NOT NULL DEFAULT '';

-- A storage notification finds its upload by object (PendingFileByKey).
CREATE INDEX files_pending_key ON files (backend, object_key) WHERE state = 'PENDING';

-- One row per state change. file is the record as the change left it, in
-- the versioned JSON encoding of store/internal/sqlfiles. An event is
-- claimable while routed_at is NULL and not_before (its lease) has passed.
CREATE TABLE events (
    id         TEXT    NOT NULL PRIMARY KEY,
    type       TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    category   TEXT    NOT NULL,
    file_id    TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    routed_at  INTEGER
) STRICT;
CREATE INDEX events_unrouted ON events (created_at, id) WHERE routed_at IS NULL;
CREATE INDEX events_routed ON events (routed_at) WHERE routed_at IS NOT NULL;

-- One row per event per sink. not_before is when a PENDING delivery is due,
-- or when a claim's lease ends.
CREATE TABLE event_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tenant      TEXT    NOT NULL,
    sink        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'PENDING',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (event_id, sink)
) STRICT;
CREATE INDEX event_deliveries_due ON event_deliveries (not_before, id) WHERE state = 'PENDING';
CREATE INDEX event_deliveries_dead ON event_deliveries (tenant, finished_at, id) WHERE state = 'DEAD';
