package events

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presignd/presignd/store"
)

// recordingSink records the events it is given and fails the first
// fail calls.
type recordingSink struct {
	mu    sync.Mutex
	fail  int
	calls int
	got   []string // event ids, in order
}

func (s *recordingSink) Deliver(_ context.Context, ev *store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.got = append(s.got, ev.ID)
	if s.calls <= s.fail {
		return fmt.Errorf("answer 500 (call %d)", s.calls)
	}
	return nil
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func event(id, tenant, category, typ string, at time.Time) *store.Event {
	return &store.Event{ID: id, Type: typ, Tenant: tenant, Category: category, FileID: "f-" + id, CreatedAt: at,
		File: &store.File{ID: "f-" + id, Tenant: tenant, Category: category}}
}

func TestDispatcherRoutesEachEventToTheSinksWhoseFiltersMatch(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ob := &memOutbox{}
	ob.add(
		event("e1", "acme", "avatars", store.EventFileReady, clk.now()),
		event("e2", "acme", "docs", store.EventFileFailed, clk.now()),
		event("e3", "other", "avatars", store.EventFileReady, clk.now()),
		event("e4", "acme", "avatars", store.EventFileDeleted, clk.now()),
	)
	all, acme, readyAvatars := &recordingSink{}, &recordingSink{}, &recordingSink{}
	d, err := New(Config{Outbox: ob, Now: clk.now, Routes: []Route{
		{Name: "nats", Sink: all},
		{Name: "webhook:acme", Sink: acme, Filter: Filter{Tenants: []string{"acme"}}},
		{Name: "webhook:ready-avatars", Sink: readyAvatars, Filter: Filter{Categories: []string{"avatars"}, Types: []string{store.EventFileReady}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		sink *recordingSink
		want []string
	}{
		{"a sink without a filter gets every event", all, []string{"e1", "e2", "e3", "e4"}},
		{"a tenant filter passes only that tenant's events", acme, []string{"e1", "e2", "e4"}},
		{"category and type filters must both match", readyAvatars, []string{"e1", "e3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.sink.ids()
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("delivered %v, want %v", got, c.want)
			}
		})
	}
	if got := testutil.ToFloat64(d.metrics.written.WithLabelValues(store.EventFileReady)); got != 2 {
		t.Errorf("written_total{type=file.ready} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(d.metrics.delivered.WithLabelValues("webhook:acme")); got != 3 {
		t.Errorf("delivered_total{sink=webhook:acme} = %v, want 3", got)
	}
	// Nothing is routed or delivered twice.
	if n, err := d.Step(context.Background()); err != nil || n != 0 {
		t.Errorf("second step handled %d (err %v), want 0", n, err)
	}
}

// deadlineSink records how long each delivery had left when it began.
type deadlineSink struct {
	mu   sync.Mutex
	left []time.Duration
}

func (s *deadlineSink) Deliver(ctx context.Context, _ *store.Event) error {
	dl, _ := ctx.Deadline()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left = append(s.left, time.Until(dl))
	return nil
}

func TestARouteTimeoutBoundsItsDeliveriesInsteadOfTheDispatchers(t *testing.T) {
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "docs", store.EventFileScanning, time.Now()))
	slow, quick := &deadlineSink{}, &deadlineSink{}
	d, err := New(Config{Outbox: ob, Timeout: time.Second, Routes: []Route{
		{Name: "scan", Sink: slow, Timeout: time.Hour},
		{Name: "webhook:a", Sink: quick},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Lease < time.Hour {
		t.Errorf("default lease %s, want at least the longest route timeout", d.cfg.Lease)
	}
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(slow.left) != 1 || slow.left[0] <= time.Minute {
		t.Errorf("the route with a 1h timeout had %v left, want its own timeout", slow.left)
	}
	if len(quick.left) != 1 || quick.left[0] > time.Second {
		t.Errorf("the route without a timeout had %v left, want the dispatcher's 1s", quick.left)
	}
}

func TestDispatcherRetriesAFailedDeliveryWithBackoffUntilTheSinkTakesIt(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, clk.now()))
	sink := &recordingSink{fail: 3}
	retry := Retry{Initial: time.Second, Max: 4 * time.Second, GiveUpAfter: time.Hour}
	d, err := New(Config{Outbox: ob, Now: clk.now, Retry: retry, Routes: []Route{{Name: "webhook:a", Sink: sink}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
		dl := ob.deliveries[0]
		if dl.State == store.DeliveryDelivered {
			break
		}
		if i > 0 && dl.State == store.DeliveryPending {
			// The wait after the n-th failure is at most Initial·2^(n-1), capped.
			bound := min(retry.Initial<<(dl.Attempts-1), retry.Max)
			if wait := dl.NotBefore.Sub(clk.now()); wait < 0 || wait > bound {
				t.Fatalf("after %d failures due in %s, want within [0, %s]", dl.Attempts, wait, bound)
			}
		}
		clk.add(5 * time.Second)
	}
	dl := ob.deliveries[0]
	if dl.State != store.DeliveryDelivered || dl.Attempts != 4 {
		t.Fatalf("delivery %s after %d attempts, want DELIVERED after 4", dl.State, dl.Attempts)
	}
	if ids := sink.ids(); !slices.Equal(ids, []string{"e1", "e1", "e1", "e1"}) {
		t.Errorf("sink saw %v, want the same event id four times", ids)
	}
	if got := testutil.ToFloat64(d.metrics.retried.WithLabelValues("webhook:a")); got != 3 {
		t.Errorf("retried_total = %v, want 3", got)
	}
	if got := testutil.ToFloat64(d.metrics.delivered.WithLabelValues("webhook:a")); got != 1 {
		t.Errorf("delivered_total = %v, want 1", got)
	}
}

func TestDispatcherBuriesADeliveryThatStillFailsAfterGiveUpAfter(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, clk.now()))
	sink := &recordingSink{fail: 1 << 30}
	d, err := New(Config{Outbox: ob, Now: clk.now, Retry: Retry{Initial: time.Second, Max: time.Second, GiveUpAfter: 10 * time.Second},
		Routes: []Route{{Name: "webhook:a", Sink: sink}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if _, err := d.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Second)
	}
	dl := ob.deliveries[0]
	if dl.State != store.DeliveryDead {
		t.Fatalf("delivery is %s, want DEAD", dl.State)
	}
	if dl.LastError == "" || dl.FinishedAt.Sub(dl.CreatedAt) < 10*time.Second {
		t.Errorf("buried at +%s with error %q: want after give_up_after, with the last error", dl.FinishedAt.Sub(dl.CreatedAt), dl.LastError)
	}
	if got := testutil.ToFloat64(d.metrics.dead.WithLabelValues("webhook:a")); got != 1 {
		t.Errorf("dead_total = %v, want 1", got)
	}
}

func TestDispatcherBuriesADeliveryForASinkNoLongerConfigured(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, clk.now()))
	old, err := New(Config{Outbox: ob, Now: clk.now, Routes: []Route{{Name: "webhook:gone", Sink: &recordingSink{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Outbox: ob, Now: clk.now, Routes: []Route{{Name: "nats", Sink: &recordingSink{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dl := ob.deliveries[0]; dl.State != store.DeliveryDead || dl.LastError != `sink "webhook:gone" is not configured` {
		t.Errorf("delivery %s with %q, want DEAD saying the sink is not configured", dl.State, dl.LastError)
	}
}

func TestJitterStaysWithinTheDoublingBound(t *testing.T) {
	r := Retry{Initial: time.Second, Max: 10 * time.Second}
	for _, c := range []struct {
		attempts int
		bound    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {60, 10 * time.Second}} {
		t.Run(fmt.Sprintf("after %d failures the wait is at most %s", c.attempts, c.bound), func(t *testing.T) {
			if got := jitter(r, c.attempts, func(n int64) int64 { return n - 1 }); got != c.bound {
				t.Errorf("largest draw %s, want %s", got, c.bound)
			}
			if got := jitter(r, c.attempts, func(int64) int64 { return 0 }); got != 0 {
				t.Errorf("smallest draw %s, want 0", got)
			}
		})
	}
}

func TestNewRefusesBadConfigurations(t *testing.T) {
	ob := &memOutbox{}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"without an outbox", Config{}},
		{"with a route without a name", Config{Outbox: ob, Routes: []Route{{Sink: &recordingSink{}}}}},
		{"with a route without a sink", Config{Outbox: ob, Routes: []Route{{Name: "nats"}}}},
		{"with two routes of one name", Config{Outbox: ob, Routes: []Route{{Name: "nats", Sink: &recordingSink{}}, {Name: "nats", Sink: &recordingSink{}}}}},
		{"with a negative give-up time", Config{Outbox: ob, Retry: Retry{GiveUpAfter: -time.Second}}},
		{"with a lease shorter than the timeout", Config{Outbox: ob, Timeout: time.Minute, Lease: time.Second}},
		{"with a lease shorter than a route's timeout", Config{Outbox: ob, Lease: time.Minute, Routes: []Route{{Name: "scan", Sink: &recordingSink{}, Timeout: time.Hour}}}},
		{"with a negative route timeout", Config{Outbox: ob, Routes: []Route{{Name: "scan", Sink: &recordingSink{}, Timeout: -time.Second}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Outbox: ob, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Outbox: ob, Registerer: reg}); err == nil {
		t.Error("registered its metrics twice on one registry")
	}
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, time.Now()))
	sink := &recordingSink{}
	d, err := New(Config{Outbox: ob, Interval: time.Millisecond, Routes: []Route{{Name: "nats", Sink: sink}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.ids()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("event not delivered within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
}

func TestTruncateKeepsValidUTF8(t *testing.T) {
	for _, c := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"a short string is kept", "short", 10, "short"},
		{"a long string is cut", "abcdef", 3, "abc"},
		{"a character cut in half is dropped", "a\u00e9", 2, "a"},
		{"invalid bytes are dropped", "ab\xffcd", 10, "abcd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := truncate(c.in, c.n); got != c.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
			}
		})
	}
}

func TestBacklogGaugesAndPruning(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, clk.now()), event("e2", "acme", "avatars", store.EventFileReady, clk.now()))
	d, err := New(Config{Outbox: ob, Now: clk.now, Keep: time.Hour, Routes: []Route{{Name: "nats", Sink: &recordingSink{}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clk.add(30 * time.Second)
	if err := d.RefreshBacklog(ctx); err != nil {
		t.Fatal(err)
	}
	if u, a := testutil.ToFloat64(d.metrics.backlog.WithLabelValues("unrouted")), testutil.ToFloat64(d.metrics.oldest); u != 2 || a != 30 {
		t.Errorf("before dispatch: unrouted %v, oldest age %vs; want 2 and 30", u, a)
	}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.RefreshBacklog(ctx); err != nil {
		t.Fatal(err)
	}
	if u, p, a := testutil.ToFloat64(d.metrics.backlog.WithLabelValues("unrouted")), testutil.ToFloat64(d.metrics.backlog.WithLabelValues("pending")),
		testutil.ToFloat64(d.metrics.oldest); u != 0 || p != 0 || a != 0 {
		t.Errorf("after dispatch: unrouted %v, pending %v, oldest age %v; want 0", u, p, a)
	}
	if n, err := d.Prune(ctx); err != nil || n != 0 {
		t.Errorf("pruned %d (%v) events delivered a moment ago, want 0 (kept an hour)", n, err)
	}
	clk.add(2 * time.Hour)
	if n, err := d.Prune(ctx); err != nil || n != 2 {
		t.Errorf("pruned %d (%v) after keep, want 2", n, err)
	}
}
