-- Malware scanning: a completed upload of a category that scans waits in
-- SCANNING, then becomes READY or QUARANTINED; scan_result keeps the
-- outcome ("clean", or the signature found).
ALTER TABLE files ADD COLUMN scan_result TEXT NOT NULL DEFAULT '';

-- A SCANNING file holds its display name, as it will be READY.
DROP INDEX files_name_taken;
CREATE UNIQUE INDEX files_name_taken ON files (tenant, name_scope, display_name)
    WHERE name_scope <> '' AND state IN ('PENDING', 'READY', 'SCANNING');

-- A SCANNING file's bytes count against quotas as a READY file's do: the
-- READY-bytes triggers of 0008 count both states. No row is SCANNING yet,
-- so the sums stand as they are.
DROP TRIGGER files_ready_bytes_insert;
DROP TRIGGER files_ready_bytes_delete;
DROP TRIGGER files_ready_bytes_update;

CREATE TRIGGER files_ready_bytes_insert AFTER INSERT ON files WHEN new.state IN ('READY', 'SCANNING')
BEGIN
    INSERT INTO tenant_ready_bytes (tenant, bytes) VALUES (new.tenant, new.size_bytes)
        ON CONFLICT (tenant) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO scope_ready_bytes (tenant, scope, bytes) VALUES (new.tenant, new.scope, new.size_bytes)
        ON CONFLICT (tenant, scope) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER files_ready_bytes_delete AFTER DELETE ON files WHEN old.state IN ('READY', 'SCANNING')
BEGIN
    UPDATE tenant_ready_bytes SET bytes = bytes - old.size_bytes WHERE tenant = old.tenant;
    UPDATE scope_ready_bytes SET bytes = bytes - old.size_bytes WHERE tenant = old.tenant AND scope = old.scope;
END;

CREATE TRIGGER files_ready_bytes_update AFTER UPDATE OF tenant, scope, state, size_bytes ON files
    WHEN old.state IN ('READY', 'SCANNING') OR new.state IN ('READY', 'SCANNING')
BEGIN
    UPDATE tenant_ready_bytes SET bytes = bytes - old.size_bytes
        WHERE old.state IN ('READY', 'SCANNING') AND tenant = old.tenant;
    UPDATE scope_ready_bytes SET bytes = bytes - old.size_bytes
        WHERE old.state IN ('READY', 'SCANNING') AND tenant = old.tenant AND scope = old.scope;
    INSERT INTO tenant_ready_bytes (tenant, bytes) SELECT new.tenant, new.size_bytes WHERE new.state IN ('READY', 'SCANNING')
        ON CONFLICT (tenant) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO scope_ready_bytes (tenant, scope, bytes) SELECT new.tenant, new.scope, new.size_bytes WHERE new.state IN ('READY', 'SCANNING')
        ON CONFLICT (tenant, scope) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
