package server

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	now := a.s.now()
	opts := auth.NewKeyOptions{Tenant: p.Tenant, Scopes: req.GetScopes(), Categories: req.GetCategories(), Now: now}
	if req.GetTtl() != nil {
		opts.TTL = req.GetTtl().AsDuration()
	}
	// A key may not outlive the credential that creates it. An explicit
	// ttl that would is refused rather than shortened, so that a caller
	// who asked for a month does not learn an hour later that it got an
	// hour; without a ttl the key lasts as long as it may.
	if !p.ExpiresAt.IsZero() {
		switch limit := p.ExpiresAt.Sub(now); {
		case limit <= 0: // accepted within the JWT leeway
			return nil, fmt.Errorf("%w: the calling credential expired at %s and cannot create keys", errPermission, p.ExpiresAt.UTC().Format(time.RFC3339))
		case opts.TTL == 0:
			opts.TTL = limit
		case opts.TTL > limit:
			return nil, fieldError("ttl", fmt.Sprintf("the key would outlive the credential creating it, which expires at %s: at most %s, or leave ttl unset to expire with it",
				p.ExpiresAt.UTC().Format(time.RFC3339), limit.Truncate(time.Second)))
		}
	}
	secret, k, err := auth.NewAPIKey(opts)
	if err != nil {
		return nil, fieldError("scopes", err.Error())
	}
	if req.GetTtl() == nil && !p.ExpiresAt.IsZero() {
		k.ExpiresAt = p.ExpiresAt.UTC().Truncate(time.Microsecond) // exactly, not now+TTL rounded
	}
	switch p.Kind {
	case auth.KindAPIKey:
		k.ParentID = p.KeyID
	case auth.KindJWT:
		k.CreatorIssuer, k.CreatorSubject = p.Issuer, p.Subject
	}
	err = a.s.store.CreateAPIKey(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		// The caller's own key was revoked after it authenticated this call.
		return nil, fmt.Errorf("%w: the calling API key was revoked", errUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	a.s.log.InfoContext(ctx, "api key created", "tenant", k.Tenant, "api_key_id", k.ID, "prefix", k.Prefix, "by", p.Subject,
		"expires", k.ExpiresAt)
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
	// The keys it created were revoked with it and may be cached here too.
	a.s.auth.authn.ForgetTenant(k.Tenant)
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

		ParentApiKeyId: k.ParentID,
		CreatorIssuer:  k.CreatorIssuer,
		CreatorSubject: k.CreatorSubject,
	}
}

// AddDenyEntry implements presigndv1.AdminServiceServer.
func (a *adminServer) AddDenyEntry(ctx context.Context, req *presigndv1.AddDenyEntryRequest) (*presigndv1.AddDenyEntryResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := a.s.categories[req.GetCategory()]; !ok {
		_, err := a.s.category(req.GetCategory())
		return nil, err
	}
	e := &store.DenyEntry{Tenant: p.Tenant, Category: req.GetCategory(), Field: req.GetField(), Value: req.GetValue(),
		Reason: req.GetReason(), CreatedAt: a.s.now().UTC().Truncate(time.Microsecond)}
	err = a.s.store.AddDenyEntry(ctx, e)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, userError(store.ErrAlreadyExists, "category %q already denies owner.%s %q", e.Category, e.Field, e.Value)
	}
	if err != nil {
		return nil, err
	}
	a.s.denyList.forget(p.Tenant)
	a.s.log.InfoContext(ctx, "deny entry added", "tenant", p.Tenant, "category", e.Category, "field", e.Field, "by", p.Subject)
	return &presigndv1.AddDenyEntryResponse{DenyEntry: denyEntryToProto(e)}, nil
}

// RemoveDenyEntry implements presigndv1.AdminServiceServer.
func (a *adminServer) RemoveDenyEntry(ctx context.Context, req *presigndv1.RemoveDenyEntryRequest) (*presigndv1.RemoveDenyEntryResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	err = a.s.store.RemoveDenyEntry(ctx, p.Tenant, req.GetCategory(), req.GetField(), req.GetValue())
	if errors.Is(err, store.ErrNotFound) {
		return nil, userError(store.ErrNotFound, "category %q has no deny entry for owner.%s %q", req.GetCategory(), req.GetField(), req.GetValue())
	}
	if err != nil {
		return nil, err
	}
	a.s.denyList.forget(p.Tenant)
	a.s.log.InfoContext(ctx, "deny entry removed", "tenant", p.Tenant, "category", req.GetCategory(), "field", req.GetField(), "by", p.Subject)
	return &presigndv1.RemoveDenyEntryResponse{}, nil
}

// ListDenyEntries implements presigndv1.AdminServiceServer.
func (a *adminServer) ListDenyEntries(ctx context.Context, req *presigndv1.ListDenyEntriesRequest) (*presigndv1.ListDenyEntriesResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	list, err := a.s.store.ListDenyEntries(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	resp := &presigndv1.ListDenyEntriesResponse{}
	for i := range list {
		if c := req.GetCategory(); c == "" || list[i].Category == c {
			resp.DenyEntries = append(resp.DenyEntries, denyEntryToProto(&list[i]))
		}
	}
	return resp, nil
}

func denyEntryToProto(e *store.DenyEntry) *presigndv1.DenyEntry {
	return &presigndv1.DenyEntry{Category: e.Category, Field: e.Field, Value: e.Value, Reason: e.Reason, CreateTime: timestamp(e.CreatedAt)}
}
