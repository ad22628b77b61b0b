-- Quotas without a scan: the bytes of each tenant's READY files, and of
-- each of its scopes, kept by a trigger in step with files. CreateFile's
-- quota check reads these two numbers and sums only the PENDING files
-- whose upload target is still live, instead of summing every READY file
-- of the tenant (an index-only scan of all of them per create).
--
-- Row locks: a change of a READY file's bytes locks its tenant's row, then
-- its scope's row, until the transaction ends; concurrent completions and
-- deletions of one tenant's files queue there briefly.
CREATE TABLE tenant_ready_bytes (
    tenant text   NOT NULL PRIMARY KEY,
    bytes  bigint NOT NULL
);

CREATE TABLE scope_ready_bytes (
    tenant text   NOT NULL,
    scope  text   NOT NULL,
    bytes  bigint NOT NULL,
    PRIMARY KEY (tenant, scope)
);

INSERT INTO tenant_ready_bytes (tenant, bytes)
    SELECT tenant, SUM(size_bytes) FROM files WHERE state = 'READY' GROUP BY tenant;
INSERT INTO scope_ready_bytes (tenant, scope, bytes)
    SELECT tenant, scope, SUM(size_bytes) FROM files WHERE state = 'READY' GROUP BY tenant, scope;

-- SET search_path FROM CURRENT: the tables are found in this schema
-- whatever the search_path of the session that changes files.
CREATE FUNCTION files_ready_bytes() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'READY' THEN
            UPDATE tenant_ready_bytes SET bytes = bytes - OLD.size_bytes WHERE tenant = OLD.tenant;
            UPDATE scope_ready_bytes SET bytes = bytes - OLD.size_bytes WHERE tenant = OLD.tenant AND scope = OLD.scope;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'READY' THEN
            INSERT INTO tenant_ready_bytes AS t (tenant, bytes) VALUES (NEW.tenant, NEW.size_bytes)
                ON CONFLICT (tenant) DO UPDATE SET bytes = t.bytes + EXCLUDED.bytes;
            INSERT INTO scope_ready_bytes AS s (tenant, scope, bytes) VALUES (NEW.tenant, NEW.scope, NEW.size_bytes)
                ON CONFLICT (tenant, scope) DO UPDATE SET bytes = s.bytes + EXCLUDED.bytes;
        END IF;
        RETURN NULL;
    END
    $$;

CREATE TRIGGER files_ready_bytes
    AFTER INSERT OR DELETE OR UPDATE OF tenant, scope, state, size_bytes ON files
    FOR EACH ROW EXECUTE FUNCTION files_ready_bytes();
