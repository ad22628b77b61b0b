package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/presignd/presignd/auth"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
)

// adminServer implements presigndv1.AdminServiceServer: API keys of the
// caller's own tenant. The auth interceptor has already required the
// admin scope.
type adminServer struct {
	presigndv1.UnimplementedAdminServiceServer
	s *Server
}

// CreateApiKey implements presigndv1.AdminServiceServer.
func (a *adminServer) CreateApiKey(ctx context.Context, req *presigndv1.CreateApiKeyRequest) (*presigndv1.CreateApiKeyResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	for _, scope := range req.GetScopes() {
		if !p.HasScope(scope) {
			return nil, fmt.Errorf("%w: cannot grant scope %q, which the caller does not hold", errPermission, scope)
		}
	}
	if p.Categories != nil {
		if len(req.GetCategories()) == 0 {
			return nil, fmt.Errorf("%w: a category-limited caller must limit the new key to some of its categories", errPermission)
		}
		for _, c := range req.GetCategories() {
			if !p.AllowsCategory(c) {
				return nil, fmt.Errorf("%w: cannot grant category %q, which the caller may not use", errPermission, c)
			}
		}
	}
	opts := auth.NewKeyOptions{Tenant: p.Tenant, Scopes: req.GetScopes(), Categories: req.GetCategories(), Now: a.s.now()}
	if req.GetTtl() != nil {
		opts.TTL = req.GetTtl().AsDuration()
	}
	secret, k, err := auth.NewAPIKey(opts)
	if err != nil {
		return nil, fieldError("scopes", err.Error())
	}
	if err := a.s.store.CreateAPIKey(ctx, k); err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	a.s.log.InfoContext(ctx, "api key created", "tenant", k.Tenant, "api_key_id", k.ID, "prefix", k.Prefix, "by", p.Subject)
	return &presigndv1.CreateApiKeyResponse{ApiKey: apiKeyToProto(k), Secret: secret}, nil
}

// ListApiKeys implements presigndv1.AdminServiceServer.
func (a *adminServer) ListApiKeys(ctx context.Context, req *presigndv1.ListApiKeysRequest) (*presigndv1.ListApiKeysResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	const filters = "api-keys"
	keys, err := a.s.store.ListAPIKeys(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	if tok := req.GetPageToken(); tok != "" {
		after, err := a.s.pageTokens.parse(p.Tenant, filters, tok)
		if err != nil {
			return nil, fieldError("page_token", err.Error())
		}
		i := 0
		for i < len(keys) && !keyAfter(keys[i], after) {
			i++
		}
		keys = keys[i:]
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	resp := &presigndv1.ListApiKeysResponse{}
	for i, k := range keys {
		if i == size {
			last := keys[i-1]
			resp.NextPageToken = a.s.pageTokens.make(p.Tenant, filters, store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
			break
		}
		resp.ApiKeys = append(resp.ApiKeys, apiKeyToProto(k))
	}
	return resp, nil
}

// keyAfter reports whether k comes after cursor c in the newest-first order.
func keyAfter(k *store.APIKey, c store.Cursor) bool {
	return k.CreatedAt.Before(c.CreatedAt) || (k.CreatedAt.Equal(c.CreatedAt) && k.ID < c.ID)
}

// RevokeApiKey implements presigndv1.AdminServiceServer.
func (a *adminServer) RevokeApiKey(ctx context.Context, req *presigndv1.RevokeApiKeyRequest) (*presigndv1.RevokeApiKeyResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	k, err := a.s.store.RevokeAPIKey(ctx, p.Tenant, req.GetApiKeyId(), a.s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return nil, userError(store.ErrNotFound, "api key %q not found", req.GetApiKeyId())
	}
	if err != nil {
		return nil, err
	}
	a.s.auth.authn.Forget(k.Hash)
	a.s.log.InfoContext(ctx, "api key revoked", "tenant", k.Tenant, "api_key_id", k.ID, "by", p.Subject)
	return &presigndv1.RevokeApiKeyResponse{ApiKey: apiKeyToProto(k)}, nil
}

func apiKeyToProto(k *store.APIKey) *presigndv1.ApiKey {
	return &presigndv1.ApiKey{
		ApiKeyId:   k.ID,
		Tenant:     k.Tenant,
		Prefix:     k.Prefix,
		Scopes:     k.Scopes,
		Categories: k.Categories,
		CreateTime: timestamp(k.CreatedAt),
		ExpireTime: timestamp(k.ExpiresAt),
		RevokeTime: timestamp(k.RevokedAt),
	}
}
