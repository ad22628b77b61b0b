package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

// DefaultDenyListCacheTTL is how long a replica trusts the deny entries
// it read: an entry added or removed on another replica takes effect here
// within it.
const DefaultDenyListCacheTTL = 5 * time.Second

// ruleCredential is what access rules see of p.
func ruleCredential(p auth.Principal) *policy.RuleCredential {
	return &policy.RuleCredential{Kind: p.Kind, Subject: p.Subject, Scopes: p.Scopes, Claims: p.Claims}
}

// fileRequest is what access rules see of a stored file.
func fileRequest(f *store.File, action string) *policy.RuleRequest {
	return &policy.RuleRequest{
		Action: action, Category: f.Category, Owner: f.Owner, Name: f.DisplayName,
		Filename: f.Filename, Size: f.SizeBytes, ContentType: f.ContentType,
		Metadata: f.Metadata, State: string(f.State),
	}
}

// checkAccess applies the deny list and the access rules of cat to a
// request that names no stored file (create, list, check, usage). A
// refusal is a *policy.AccessError: PermissionDenied naming the rule.
func (s *Server) checkAccess(ctx context.Context, p auth.Principal, cat *policy.Category, req *policy.RuleRequest) error {
	if err := s.denyList.check(ctx, p.Tenant, cat.Name, req.Owner); err != nil {
		return err
	}
	return cat.CheckAccess(ruleCredential(p), req)
}

// fileAccess applies the deny list and the access rules of f's category
// to an RPC that acts on f. A refusal reads as NotFound, as for a file
// of another tenant, so that it does not tell the file exists; the rule
// that refused is logged.
func (s *Server) fileAccess(ctx context.Context, p auth.Principal, f *store.File, action string) error {
	if err := s.fileAllowed(ctx, p, f, action); err != nil {
		s.log.InfoContext(ctx, "access refused", "file_id", f.ID, "action", action, "reason", err.Error())
		return fmt.Errorf("file %q: %w", f.ID, store.ErrNotFound)
	}
	return nil
}

// fileAllowed is fileAccess without the disguise: the refusal itself.
func (s *Server) fileAllowed(ctx context.Context, p auth.Principal, f *store.File, action string) error {
	if err := s.denyList.check(ctx, p.Tenant, f.Category, f.Owner); err != nil {
		return err
	}
	cat, ok := s.categories[f.Category]
	if !ok || len(cat.AccessRules) == 0 {
		return nil
	}
	return cat.CheckAccess(ruleCredential(p), fileRequest(f, action))
}

// denyListReader is the part of the store the deny-list cache reads.
type denyListReader interface {
	ListDenyEntries(ctx context.Context, tenant string) ([]store.DenyEntry, error)
}

// denyCache keeps each tenant's deny entries for ttl, so a check costs a
// map lookup and one store read per tenant per ttl.
type denyCache struct {
	store denyListReader
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	tenants map[string]*denySet
}

// denySet is one tenant's deny entries: category → owner field → values.
type denySet struct {
	read    time.Time
	entries map[string]map[string]map[string]struct{}
}

func newDenyCache(st denyListReader, ttl time.Duration, now func() time.Time, log *slog.Logger) *denyCache {
	if ttl <= 0 {
		ttl = DefaultDenyListCacheTTL
	}
	return &denyCache{store: st, ttl: ttl, now: now, log: log, tenants: map[string]*denySet{}}
}

// forget drops a tenant's entries, so this replica reads them again at
// its next check (after it changed them itself).
func (c *denyCache) forget(tenant string) {
	c.mu.Lock()
	delete(c.tenants, tenant)
	c.mu.Unlock()
}

// set returns the tenant's entries, read again when older than the TTL.
// An entry list that cannot be read fails the call: an unknown list
// never allows.
func (c *denyCache) set(ctx context.Context, tenant string) (*denySet, error) {
	now := c.now()
	c.mu.Lock()
	ds := c.tenants[tenant]
	c.mu.Unlock()
	if ds != nil && now.Sub(ds.read) < c.ttl {
		return ds, nil
	}
	list, err := c.store.ListDenyEntries(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("read the deny list: %w", err)
	}
	ds = &denySet{read: now, entries: map[string]map[string]map[string]struct{}{}}
	for _, e := range list {
		fields := ds.entries[e.Category]
		if fields == nil {
			fields = map[string]map[string]struct{}{}
			ds.entries[e.Category] = fields
		}
		values := fields[e.Field]
		if values == nil {
			values = map[string]struct{}{}
			fields[e.Field] = values
		}
		values[e.Value] = struct{}{}
	}
	c.mu.Lock()
	if len(c.tenants) > 10_000 { // bounded: forget them all rather than grow
		clear(c.tenants)
	}
	c.tenants[tenant] = ds
	c.mu.Unlock()
	return ds, nil
}

// check refuses owner values on the tenant's deny list for category.
func (c *denyCache) check(ctx context.Context, tenant, category string, owner map[string]string) error {
	ds, err := c.set(ctx, tenant)
	if err != nil {
		return err
	}
	for field, values := range ds.entries[category] {
		v, ok := owner[field]
		if !ok {
			continue
		}
		if _, denied := values[v]; denied {
			return &policy.AccessError{Category: category, Rule: "the deny list", Reason: fmt.Sprintf("denies this owner.%s", field)}
		}
	}
	return nil
}
