-- Files get a Scope (such as "files/application_id=42") that lists, usage
-- and per-scope quotas select on; existing files are in the empty scope.
-- A constant default: no table rewrite.
ALTER TABLE files ADD COLUMN scope text NOT NULL DEFAULT '';

-- The display-name index gets the name the driver recognises in a unique
-- violation (pgconn.PgError.ConstraintName, store.ErrNameTaken).
ALTER INDEX files_tenant_scope_name RENAME TO files_name_taken;

-- Quota and Usage sums: READY files by (tenant, state), PENDING ones by
-- (tenant, state, upload_expires), since an expired upload target releases
-- its reservation. Each index covers the columns the sums read.
DROP INDEX files_tenant_state_size;
DROP INDEX files_tenant_category_state;
CREATE INDEX files_tenant_state_expires ON files (tenant, state, upload_expires) INCLUDE (size_bytes, completed_at);
CREATE INDEX files_tenant_category_state_expires ON files (tenant, category, state, upload_expires) INCLUDE (size_bytes, completed_at);
CREATE INDEX files_tenant_scope_state_expires ON files (tenant, scope, state, upload_expires) INCLUDE (size_bytes, completed_at);

-- ListFiles filtered by scope or by exact display name, in list order.
CREATE INDEX files_tenant_scope_created ON files (tenant, scope, created_at DESC, id DESC);
CREATE INDEX files_tenant_name_created ON files (tenant, display_name, created_at DESC, id DESC);
