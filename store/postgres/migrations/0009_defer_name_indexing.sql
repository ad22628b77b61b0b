-- Index work off the request path, as the sqlite driver's migration 0009
-- does with its own name indexer.
--
-- The word index (0006) takes a new file's words into its pending list,
-- which every search reads as well, so results stay exact, and merges the
-- list into the index many files at once: when it passes
-- gin_pending_list_limit (256 kB here: a few thousand names, which bounds
-- what a search reads), or when (auto)vacuum runs. With fastupdate off
-- each insert merged its words at once, a large share of its cost.
ALTER INDEX files_name_words SET (fastupdate = on, gin_pending_list_limit = 256);

-- The READY-bytes trigger (0008) fires only for rows that hold or held
-- READY bytes: creating a PENDING file, most creates, calls no trigger.
DROP TRIGGER files_ready_bytes ON files;
CREATE TRIGGER files_ready_bytes_insert
    AFTER INSERT ON files
    FOR EACH ROW WHEN (NEW.state = 'READY') EXECUTE FUNCTION files_ready_bytes();
CREATE TRIGGER files_ready_bytes_delete
    AFTER DELETE ON files
    FOR EACH ROW WHEN (OLD.state = 'READY') EXECUTE FUNCTION files_ready_bytes();
CREATE TRIGGER files_ready_bytes_update
    AFTER UPDATE OF tenant, scope, state, size_bytes ON files
    FOR EACH ROW WHEN (OLD.state = 'READY' OR NEW.state = 'READY') EXECUTE FUNCTION files_ready_bytes();
