-- The name search indexes (files_name_fts, 0005; files_name_words, 0006)
-- learn new files from CreateFile's batch, not from a trigger. FTS5 writes
-- its pending entries out as a new segment at the end of every statement
-- that changes it inside a transaction (at each statement savepoint), so a
-- trigger indexing each insert of a batch wrote one tiny segment per file,
-- plus the merges they force: about half of the writer's time. The batch
-- now indexes all its new files with one statement per index, after its
-- inserts and before its COMMIT, in the same transaction (store/sqlite
-- batch.go). Renames and deletes keep their triggers.
--
-- So a row inserted into files by anything but the store is not found by
-- name search until the indexes are rebuilt:
--   INSERT INTO files_name_fts (files_name_fts) VALUES ('rebuild');
--   INSERT INTO files_name_words (files_name_words) VALUES ('rebuild');
DROP TRIGGER files_name_fts_insert;
DROP TRIGGER files_name_words_insert;
