-- The name search indexes (files_name_fts, 0005; files_name_words, 0006)
-- learn new files a little later than files does, in bulk. Each write
-- transaction that adds entries to an FTS5 index writes a new segment and
-- its bookkeeping (about ten pages of WAL for the two indexes, plus the
-- merges that the segments force), so indexing in every CreateFile batch
-- cost as much as the batch's inserts. A batch now records the rowids of
-- its new files in files_name_unindexed, in its own transaction; the
-- store's indexer (store/sqlite batch.go) moves them into both indexes in
-- one transaction a fraction of a second later, or once a few hundred
-- wait.
--
-- A file is in the name indexes exactly when its rowid is not in
-- files_name_unindexed, in every snapshot: ListFiles looks a search text
-- up in an index and checks the names of the unindexed files directly, so
-- a search finds a file as soon as its create is acknowledged. A rename or
-- delete updates the indexes only for an indexed file; a delete takes an
-- unindexed file off the list, and the indexer reads the name a file has
-- when it indexes it.
--
-- After INSERT INTO <index> (<index>) VALUES ('rebuild') the index holds
-- every file, so run DELETE FROM files_name_unindexed in the same
-- transaction, or the indexer would add those files a second time.
CREATE TABLE files_name_unindexed (
    file_rowid INTEGER NOT NULL PRIMARY KEY
) STRICT;

DROP TRIGGER files_name_fts_delete;
DROP TRIGGER files_name_words_delete;
DROP TRIGGER files_name_fts_update;
DROP TRIGGER files_name_words_update;

CREATE TRIGGER files_name_index_delete AFTER DELETE ON files BEGIN
    INSERT INTO files_name_fts (files_name_fts, rowid, name_fold)
        SELECT 'delete', old.rowid, old.name_fold
        WHERE NOT EXISTS (SELECT 1 FROM files_name_unindexed WHERE file_rowid = old.rowid);
    INSERT INTO files_name_words (files_name_words, rowid, name_fold)
        SELECT 'delete', old.rowid, old.name_fold
        WHERE NOT EXISTS (SELECT 1 FROM files_name_unindexed WHERE file_rowid = old.rowid);
    DELETE FROM files_name_unindexed WHERE file_rowid = old.rowid;
END;

CREATE TRIGGER files_name_index_update AFTER UPDATE OF name_fold ON files
    WHEN old.name_fold IS NOT new.name_fold
        AND NOT EXISTS (SELECT 1 FROM files_name_unindexed WHERE file_rowid = old.rowid)
BEGIN
    INSERT INTO files_name_fts (files_name_fts, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
    INSERT INTO files_name_fts (rowid, name_fold) VALUES (new.rowid, new.name_fold);
    INSERT INTO files_name_words (files_name_words, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
    INSERT INTO files_name_words (rowid, name_fold) VALUES (new.rowid, new.name_fold);
END;
