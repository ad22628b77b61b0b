-- Who created each file (the credential's kind, its API key ID or JWT
-- subject, and a display name), how many download URLs were issued for it
-- and when its last presigned URL (upload target or download URL) was
-- issued.
ALTER TABLE files ADD COLUMN uploader_kind text NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN uploader_id text NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN uploader_name text NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN download_url_count bigint NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN last_url_at timestamptz;

-- De-duplication by content (Files.FindByContent): the READY files of a
-- scope by checksum and size.
CREATE INDEX files_ready_content ON files (tenant, scope, checksum_value, size_bytes)
    WHERE state = 'READY' AND checksum_value <> '';

-- Retention (Lifecycle.RetainedFiles): the READY files of a category by
-- completion time.
CREATE INDEX files_ready_completed ON files (category, completed_at) WHERE state = 'READY';
