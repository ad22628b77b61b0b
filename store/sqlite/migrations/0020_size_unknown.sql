-- A PENDING file whose size was not declared (an upload target asked for
-- without a body) reserves its category's limit in size_bytes; this flag
-- says so until completion records the real size.
ALTER TABLE files ADD COLUMN size_unknown INTEGER NOT NULL DEFAULT 0;
