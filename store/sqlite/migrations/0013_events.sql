-- Upload events (store.Outbox): who completed an upload, the events a
-- state change writes in its own transaction, and their deliveries.
ALTER TABLE files ADD COLUMN completed_by TEXT NOT NULL DEFAULT '';

-- A storage notification finds its upload by object (PendingFileByKey).
CREATE INDEX files_pending_key ON files (backend, object_key) WHERE state = 'PENDING';

-- The outbox: one row per state change not yet routed. file is the record
-- as the change left it, in the versioned JSON encoding of
-- store/internal/sqlfiles. A row is claimable once not_before (its lease)
-- has passed. The table holds only what waits, and no index but its key
-- (WITHOUT ROWID: the row lives in the key's b-tree, whose UUIDv7 ids
-- grow with time): a state change's commit writes one more page, the
-- least an outbox can cost. Routing moves the row to routed_events.
CREATE TABLE events (
    id         TEXT    NOT NULL PRIMARY KEY,
    type       TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    category   TEXT    NOT NULL,
    file_id    TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Routed events, kept with their deliveries until pruned.
CREATE TABLE routed_events (
    id         TEXT    NOT NULL PRIMARY KEY,
    type       TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    category   TEXT    NOT NULL,
    file_id    TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    routed_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX routed_events_routed ON routed_events (routed_at);

-- One row per event per sink. not_before is when a PENDING delivery is due,
-- or when a claim's lease ends.
CREATE TABLE event_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL REFERENCES routed_events (id) ON DELETE CASCADE,
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
