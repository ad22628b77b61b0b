-- Keys of deleted and failed files whose upload targets may still be used
-- (store.KeyWatch): a sweeper removes late arrivals there until the
-- targets expire. next_check is when the key is due, or its claim ends.
CREATE TABLE watched_keys (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backend    text        NOT NULL,
    object_key text        NOT NULL,
    file_id    text        NOT NULL,
    tenant     text        NOT NULL,
    until      timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    next_check timestamptz NOT NULL
);
CREATE INDEX watched_keys_due ON watched_keys (next_check, id);
