-- Maps are jsonb and scopes text[]; NULL means empty. Zero times are NULL.

CREATE TABLE files (
    -- COLLATE "C": IDs order by bytes, the same on every server, which the
    -- (created_at, id) keyset paging relies on.
    id                 text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant             text        NOT NULL,
    category           text        NOT NULL,
    display_name       text        NOT NULL,
    -- name_fold is display_name lower-cased by the driver, for NameContains.
    name_fold          text        NOT NULL,
    name_scope         text        NOT NULL,
    filename           text        NOT NULL,
    object_key         text        NOT NULL,
    backend            text        NOT NULL,
    content_type       text        NOT NULL,
    size_bytes         bigint      NOT NULL,
    checksum_algorithm text        NOT NULL,
    checksum_value     text        NOT NULL,
    etag               text        NOT NULL,
    state              text        NOT NULL,
    failure_reason     text        NOT NULL,
    owner              jsonb,
    metadata           jsonb,
    request_id         text        NOT NULL,
    request_hash       text        NOT NULL,
    upload_count       integer     NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    upload_expires     timestamptz
);

-- ListFiles: a tenant's files newest first, ties broken by ID.
CREATE INDEX files_tenant_created ON files (tenant, created_at DESC, id DESC);

-- A request ID is unique within its tenant.
CREATE UNIQUE INDEX files_tenant_request_id ON files (tenant, request_id)
    WHERE request_id <> '';

-- A display name is unique in its scope among the files that hold a name.
CREATE UNIQUE INDEX files_tenant_scope_name ON files (tenant, name_scope, display_name)
    WHERE name_scope <> '' AND state IN ('PENDING', 'READY');

-- Quota (per tenant) and Usage (per tenant and category) sums.
CREATE INDEX files_tenant_state_size ON files (tenant, state) INCLUDE (size_bytes);
CREATE INDEX files_tenant_category_state ON files (tenant, category, state) INCLUDE (size_bytes, completed_at);

CREATE TABLE api_keys (
    id         text        NOT NULL PRIMARY KEY,
    tenant     text        NOT NULL,
    prefix     text        NOT NULL,
    hash       bytea       NOT NULL UNIQUE,
    scopes     text[],
    created_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);
