package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
	"github.com/presignd/presignd/store/sqlite"
)

// Fake stores: each has the Store contract (by embedding it) and the
// optional capabilities its name says.
type (
	bareStore         struct{ store.Store }
	anticipatingStore struct{ store.Store }
	watchingStore     struct {
		store.Store
		store.KeyWatch
	}
	exportingStore struct{ store.Store }
	fullStore      struct{ store.Store }
)

func (anticipatingStore) AnticipateCreate(ctx context.Context) (context.Context, func()) {
	return ctx, func() {}
}

func (exportingStore) Collector() prometheus.Collector { return nil }

func (*fullStore) AnticipateCreate(ctx context.Context) (context.Context, func()) {
	return ctx, func() {}
}
func (*fullStore) Collector() prometheus.Collector                   { return nil }
func (*fullStore) WatchKey(context.Context, *store.WatchedKey) error { return nil }
func (*fullStore) UnwatchKey(context.Context, int64) error           { return nil }
func (*fullStore) ClaimWatchedKeys(context.Context, time.Time, time.Time, int) ([]*store.WatchedKey, error) {
	return nil, nil
}

// has is which capabilities a Capabilities reports.
type has struct{ anticipator, keyWatch, metrics bool }

func hasOf(c store.Capabilities) has {
	return has{c.Anticipator != nil, c.KeyWatch != nil, c.Metrics != nil}
}

// TestCapabilitiesOf: CapabilitiesOf finds exactly the optional
// capabilities a store has, and every real driver reports those it is
// meant to have (losing a method fails here, not in production wiring).
func TestCapabilitiesOf(t *testing.T) {
	all := has{anticipator: true, keyWatch: true, metrics: true}
	for _, tc := range []struct {
		name  string
		store store.Store
		want  has
		names string
	}{
		{"a store with no optional capability has none", bareStore{}, has{}, "none"},
		{"a nil store has none", nil, has{}, "none"},
		{"a store that anticipates creates has Anticipator", anticipatingStore{}, has{anticipator: true}, "Anticipator"},
		{"a store that watches keys has KeyWatch", watchingStore{}, has{keyWatch: true}, "KeyWatch"},
		{"a store that exports a collector has Metrics", exportingStore{}, has{metrics: true}, "Metrics"},
		{"a store with every capability has all", &fullStore{}, all, "Anticipator KeyWatch Metrics"},
		{"the SQLite driver has all", (*sqlite.Store)(nil), all, "Anticipator KeyWatch Metrics"},
		{"the PostgreSQL driver has all", (*postgres.Store)(nil), all, "Anticipator KeyWatch Metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := store.CapabilitiesOf(tc.store)
			if got := hasOf(c); got != tc.want {
				t.Errorf("CapabilitiesOf(%T) = %+v, want %+v", tc.store, got, tc.want)
			}
			if got := c.String(); got != tc.names {
				t.Errorf("String() = %q, want %q", got, tc.names)
			}
		})
	}
}

// TestCapabilitiesAreTheStore: each capability found is the store
// itself, so calls through it reach the store.
func TestCapabilitiesAreTheStore(t *testing.T) {
	st := &fullStore{}
	c := store.CapabilitiesOf(st)
	for name, got := range map[string]any{"Anticipator": c.Anticipator, "KeyWatch": c.KeyWatch, "Metrics": c.Metrics} {
		if got != any(st) {
			t.Errorf("%s is %v, want the store %p", name, got, st)
		}
	}
}
