-- NameContains search, second index: the words of name_fold, for search
-- text that holds a whole word (or ends in the start of one). Looking a
-- text up in the trigram index (0005) reads the entries of every trigram
-- of it, and some, like those of "file ", are in most names; a word of the
-- text is often in few. ListFiles takes candidate rowids from here and
-- checks every name again with instr, as it does with the trigram index.
--
-- unicode61 splits at every ASCII character other than a letter or digit,
-- as the driver does (store/internal/words), and at some non-ASCII ones
-- the driver keeps inside a word; the driver looks such a word up as a
-- phrase, which detail=full allows. remove_diacritics 0: names and search
-- text are folded by the driver alone. columnsize=0: no per-row size is
-- kept, since nothing ranks matches.
--
-- Like files_name_fts, an external-content table over files linked by
-- rowid and kept in step by triggers; 'rebuild' rebuilds it.
CREATE VIRTUAL TABLE files_name_words USING fts5(
    name_fold,
    content = 'files',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 0',
    detail = 'full',
    columnsize = 0
);

CREATE TRIGGER files_name_words_insert AFTER INSERT ON files BEGIN
    INSERT INTO files_name_words (rowid, name_fold) VALUES (new.rowid, new.name_fold);
END;

CREATE TRIGGER files_name_words_delete AFTER DELETE ON files BEGIN
    INSERT INTO files_name_words (files_name_words, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
END;

CREATE TRIGGER files_name_words_update AFTER UPDATE OF name_fold ON files
    WHEN old.name_fold IS NOT new.name_fold
BEGIN
    INSERT INTO files_name_words (files_name_words, rowid, name_fold) VALUES ('delete', old.rowid, old.name_fold);
    INSERT INTO files_name_words (rowid, name_fold) VALUES (new.rowid, new.name_fold);
END;

-- Back-fill: index the files written before this migration.
INSERT INTO files_name_words (files_name_words) VALUES ('rebuild');
