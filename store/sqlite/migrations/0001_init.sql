-- Times are unix microseconds in UTC; NULL means "not set".
-- Maps and lists are JSON text; NULL means empty.

CREATE TABLE files (
    id                 TEXT    NOT NULL PRIMARY KEY,
    tenant             TEXT    NOT NULL,
    category           TEXT    NOT NULL,
    display_name       TEXT    NOT NULL,
    -- name_fold is display_name lower-cased by the driver, for NameContains.
    name_fold          TEXT    NOT NULL,
    name_scope         TEXT    NOT NULL,
    filename           TEXT    NOT NULL,
    object_key         TEXT    NOT NULL,
    backend            TEXT    NOT NULL,
    content_type       TEXT    NOT NULL,
    size_bytes         INTEGER NOT NULL,
    checksum_algorithm TEXT    NOT NULL,
    checksum_value     TEXT    NOT NULL,
    etag               TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    failure_reason     TEXT    NOT NULL,
    owner              TEXT,
    metadata           TEXT,
    request_id         TEXT    NOT NULL,
    request_hash       TEXT    NOT NULL,
    upload_count       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    completed_at       INTEGER,
    upload_expires     INTEGER
) STRICT;

-- ListFiles: a tenant's files newest first, ties broken by ID.
CREATE INDEX files_tenant_created ON files (tenant, created_at DESC, id DESC);

-- A request ID is unique within its tenant.
CREATE UNIQUE INDEX files_tenant_request_id ON files (tenant, request_id)
    WHERE request_id <> '';

-- A display name is unique in its scope among the files that hold a name.
CREATE UNIQUE INDEX files_tenant_scope_name ON files (tenant, name_scope, display_name)
    WHERE name_scope <> '' AND state IN ('PENDING', 'READY');

-- Quota (per tenant) and Usage (per tenant and category) sums.
CREATE INDEX files_tenant_state_size ON files (tenant, state, size_bytes);
CREATE INDEX files_tenant_category_state ON files (tenant, category, state, size_bytes, completed_at);

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    prefix     TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    scopes     TEXT,
    created_at INTEGER,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;
