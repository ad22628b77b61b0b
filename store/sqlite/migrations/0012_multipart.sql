-- Multipart uploads: the backend's upload id, the size of every part but
-- the last, and the checksum algorithm each part target binds; empty and 0
-- for a single PUT or POST. A queued deletion carries the upload id of the
-- file it comes from, for the sweeper to abort the upload (discarding its
-- parts) before it deletes the object.
ALTER TABLE files ADD COLUMN multipart_upload_id TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN part_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN part_checksum_algorithm TEXT NOT NULL DEFAULT '';
ALTER TABLE object_deletions ADD COLUMN multipart_upload_id TEXT NOT NULL DEFAULT '';

-- The sweeper's orphan check (Lifecycle.HoldsMultipartUpload): does a
-- PENDING file hold this backend's upload?
CREATE INDEX files_pending_multipart ON files (backend, multipart_upload_id)
    WHERE state = 'PENDING' AND multipart_upload_id <> '';
