-- Databases migrated before this file existed got the index with 0004
-- (IF NOT EXISTS: then this does nothing).
-- NameContains search (as in the sqlite driver's migration 0005): a
-- trigram GIN index on the folded name serves
-- name_fold LIKE '%text%'. pg_trgm is a trusted extension (PostgreSQL 13+),
-- installed once per database in public; where it cannot be installed, the
-- index is skipped and search scans the tenant's files in list order.
DO $$
DECLARE
    ns text;
BEGIN
    SELECT n.nspname INTO ns FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF ns IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable (%), name search will not use an index', SQLERRM;
        END;
        SELECT n.nspname INTO ns FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'pg_trgm';
    END IF;
    IF ns IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS files_name_trgm ON files USING gin (name_fold %I.gin_trgm_ops)', ns);
    END IF;
END
$$;
