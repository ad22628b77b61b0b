-- The media type detected from an object's first bytes at completion, for
-- categories that sniff content; empty for the others and for files
-- completed before.
ALTER TABLE files ADD COLUMN detected_content_type TEXT NOT NULL DEFAULT '';
