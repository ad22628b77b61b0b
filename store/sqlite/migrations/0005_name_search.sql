-- NameContains search: an FTS5 trigram index over name_fold (display_name
-- lower-cased by the driver), kept in step with files by the triggers
-- below. It is an external-content table: it stores only the index and
-- reads nothing back, since ListFiles takes matching rowids from it and
-- checks every name again with instr. case_sensitive 1: name_fold and the
-- search text are both folded by the driver, so the index compares them
-- as they are, character for character, the way instr does.
--
-- The rowid of files is the link. files has no INTEGER PRIMARY KEY, but it
-- has indexes, and VACUUM keeps the rowids of such a table (the sqlite
-- tests check that a search still finds a file after VACUUM); where they
-- were ever renumbered, INSERT INTO files_name_fts(files_name_fts)
-- VALUES ('rebuild') rebuilds the index from files.
CREATE VIRTUAL TABLE files_name_fts USING fts5(
    name_fold,
    content = 'files',
    content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1',
    detail = 'full'
);

CREATE TRIGGER files_name_fts_insert AFTER INSERT ON files BEGIN
    INSERT INTO files_name_fts (rowid, name_fold) VALUES (new.rowid, new.name_fold);
END;

CREATE TRIGGER files_name_fts_delete AFTER DELETE ON files BEGIN
    INSERT INTO files_name_fts (files_name_fts, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
END;

-- Only a change of the name touches the index (the driver never changes
-- a rowid).
CREATE TRIGGER files_name_fts_update AFTER UPDATE OF name_fold ON files
    WHEN old.name_fold IS NOT new.name_fold
BEGIN
    INSERT INTO files_name_fts (files_name_fts, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
    INSERT INTO files_name_fts (rowid, name_fold) VALUES (new.rowid, new.name_fold);
END;

-- Back-fill: index the files written before this migration.
INSERT INTO files_name_fts (files_name_fts) VALUES ('rebuild');
