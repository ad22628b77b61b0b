-- Upload events (store.Outbox): who completed an upload, the events a
-- state change writes in its own transaction, and their deliveries.
ALTER TABLE files ADD COLUMN completed_by text NOT NULL DEFAULT '';

-- A storage notification finds its upload by object (PendingFileByKey).
CREATE INDEX files_pending_key ON files (backend, object_key) WHERE state = 'PENDING';

-- One row per state change. file is the record as the change left it, in
-- the versioned JSON encoding of store/internal/sqlfiles. An event is
-- claimable while routed_at is NULL and not_before (its lease) has passed.
CREATE TABLE events (
    id         text        NOT NULL PRIMARY KEY,
    type       text        NOT NULL,
    tenant     text        NOT NULL,
    category   text        NOT NULL,
    file_id    text        NOT NULL,
    file       text        NOT NULL,
    created_at timestamptz NOT NULL,
    not_before timestamptz NOT NULL,
    routed_at  timestamptz
);
CREATE INDEX events_unrouted ON events (created_at, id) WHERE routed_at IS NULL;
CREATE INDEX events_routed ON events (routed_at) WHERE routed_at IS NOT NULL;

-- One row per event per sink. not_before is when a PENDING delivery is due,
-- or when a claim's lease ends.
CREATE TABLE event_deliveries (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tenant      text        NOT NULL,
    sink        text        NOT NULL,
    state       text        NOT NULL DEFAULT 'PENDING',
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    not_before  timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (event_id, sink)
);
CREATE INDEX event_deliveries_due ON event_deliveries (not_before, id) WHERE state = 'PENDING';
CREATE INDEX event_deliveries_dead ON event_deliveries (tenant, finished_at, id) WHERE state = 'DEAD';
