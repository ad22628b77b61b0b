-- An API key records the credential that created it: another key of the
-- tenant (parent_id) or a JWT (creator_issuer, creator_subject). Revoking a
-- key revokes the keys it created, found through api_keys_parent.
ALTER TABLE api_keys ADD COLUMN parent_id TEXT;
ALTER TABLE api_keys ADD COLUMN creator_issuer TEXT;
ALTER TABLE api_keys ADD COLUMN creator_subject TEXT;
CREATE INDEX api_keys_parent ON api_keys (tenant, parent_id) WHERE parent_id IS NOT NULL;
