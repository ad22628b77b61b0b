-- Thumbnails (store.File.Thumbnails): a JSON array of {name, key,
-- content_type, width, height, size_bytes}; NULL until a worker makes them.
ALTER TABLE files ADD COLUMN thumbnails TEXT;
