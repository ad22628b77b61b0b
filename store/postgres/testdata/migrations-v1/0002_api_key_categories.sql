-- API keys may be limited to some categories: a text[] of names, or NULL
-- for every category. Keys are listed per tenant, newest first.
ALTER TABLE api_keys ADD COLUMN categories text[];
CREATE INDEX api_keys_tenant_created ON api_keys (tenant, created_at DESC, id DESC);
