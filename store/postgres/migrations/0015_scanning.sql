-- Malware scanning: a completed upload of a category that scans waits in
-- SCANNING, then becomes READY or QUARANTINED; scan_result keeps the
-- outcome ("clean", or the signature found). A constant default: no table
-- rewrite.
ALTER TABLE files ADD COLUMN scan_result text NOT NULL DEFAULT '';

-- A SCANNING file holds its display name, as it will be READY. The index
-- keeps the name the driver recognises in a unique violation.
DROP INDEX files_name_taken;
CREATE UNIQUE INDEX files_name_taken ON files (tenant, name_scope, display_name)
    WHERE name_scope <> '' AND state IN ('PENDING', 'READY', 'SCANNING');

-- A SCANNING file's bytes count against quotas as a READY file's do: the
-- READY-bytes trigger function of 0008 counts both states, and its
-- triggers (0009) fire for both. No row is SCANNING yet, so the sums stand.
CREATE OR REPLACE FUNCTION files_ready_bytes() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state IN ('READY', 'SCANNING') THEN
            UPDATE tenant_ready_bytes SET bytes = bytes - OLD.size_bytes WHERE tenant = OLD.tenant;
            UPDATE scope_ready_bytes SET bytes = bytes - OLD.size_bytes WHERE tenant = OLD.tenant AND scope = OLD.scope;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state IN ('READY', 'SCANNING') THEN
            INSERT INTO tenant_ready_bytes AS t (tenant, bytes) VALUES (NEW.tenant, NEW.size_bytes)
                ON CONFLICT (tenant) DO UPDATE SET bytes = t.bytes + EXCLUDED.bytes;
            INSERT INTO scope_ready_bytes AS s (tenant, scope, bytes) VALUES (NEW.tenant, NEW.scope, NEW.size_bytes)
                ON CONFLICT (tenant, scope) DO UPDATE SET bytes = s.bytes + EXCLUDED.bytes;
        END IF;
        RETURN NULL;
    END
    $$;

DROP TRIGGER files_ready_bytes_insert ON files;
DROP TRIGGER files_ready_bytes_delete ON files;
DROP TRIGGER files_ready_bytes_update ON files;
CREATE TRIGGER files_ready_bytes_insert
    AFTER INSERT ON files
    FOR EACH ROW WHEN (NEW.state IN ('READY', 'SCANNING')) EXECUTE FUNCTION files_ready_bytes();
CREATE TRIGGER files_ready_bytes_delete
    AFTER DELETE ON files
    FOR EACH ROW WHEN (OLD.state IN ('READY', 'SCANNING')) EXECUTE FUNCTION files_ready_bytes();
CREATE TRIGGER files_ready_bytes_update
    AFTER UPDATE OF tenant, scope, state, size_bytes ON files
    FOR EACH ROW WHEN (OLD.state IN ('READY', 'SCANNING') OR NEW.state IN ('READY', 'SCANNING')) EXECUTE FUNCTION files_ready_bytes();
