-- Owner values a tenant denies in a category: every file RPC on a file
-- (or request) whose owner field has the value is refused.
CREATE TABLE deny_entries (
    tenant     TEXT NOT NULL,
    category   TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, category, field, value)
) WITHOUT ROWID;
