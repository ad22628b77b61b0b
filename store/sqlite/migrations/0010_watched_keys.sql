-- Keys of deleted and failed files whose upload targets may still be used
-- (store.KeyWatch): a sweeper removes late arrivals there until the
-- targets expire. next_check is when the key is due, or its claim ends.
CREATE TABLE watched_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    backend    TEXT    NOT NULL,
    object_key TEXT    NOT NULL,
    file_id    TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    until      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    next_check INTEGER NOT NULL
) STRICT;
CREATE INDEX watched_keys_due ON watched_keys (next_check, id);
