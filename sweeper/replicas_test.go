package sweeper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/sweeper"
)

// hookCompleter completes an upload whose object its backend holds, as
// server.Server.CompletePending does, after calling hook with the file:
// the hook is where a test holds one sweeper while another moves on.
type hookCompleter struct {
	st      store.Store
	backend *memBackend
	hook    func(f *store.File)
}

var errNotPending = errors.New("the file is no longer PENDING")

func (c *hookCompleter) CompletePending(ctx context.Context, f *store.File, by string) (*store.File, bool, error) {
	c.hook(f)
	if _, err := c.backend.Stat(ctx, f.Key); errors.Is(err, signer.ErrNotFound) {
		return f, false, nil
	}
	done, err := c.st.UpdateFile(ctx, f.Tenant, f.ID, func(cur *store.File) error {
		if cur.State != store.StatePending {
			return errNotPending
		}
		cur.State, cur.CompletedBy, cur.CompletedAt, cur.SizeBytes = store.StateReady, by, time.Now(), 1
		return nil
	})
	if errors.Is(err, errNotPending) {
		done, err = c.st.GetFile(ctx, f.Tenant, f.ID)
		return done, false, err
	}
	return done, err == nil, err
}

// signal is a channel closed at most once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }
func (s *signal) fire()  { s.once.Do(func() { close(s.ch) }) }

// wait returns when s fired, or fails t after a deadline (the order the
// test forces did not happen) and returns anyway.
func (s *signal) wait(t *testing.T, what string) {
	select {
	case <-s.ch:
	case <-time.After(10 * time.Second):
		t.Errorf("gave up waiting for %s", what)
	}
}

// Two replicas sweeping one store list the same uploads: the one that
// finds an upload's bytes missing must expire that upload and no other,
// even when another replica expired it first and an uploaded file
// nobody has looked at yet shares its expiry (the local backend's
// expiries are whole seconds, so many uploads share one).
func TestTwoSweepersExpireOnlyWhatTheyLookedAt(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	expires := now.Add(-2 * time.Minute)
	// Same expiry; the abandoned one first in (expiry, id) order.
	abandoned, uploaded := file("a-abandoned", store.StatePending, expires), file("b-uploaded", store.StatePending, expires)
	for _, f := range []*store.File{abandoned, uploaded} {
		if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	backend := &memBackend{objects: map[string]bool{uploaded.Key: true}}

	// The order forced: A and B both list the abandoned upload and find no
	// bytes; A expires it and lists the uploaded one, and is held there
	// until B's sweep has ended; B expires what it found missing.
	aHasAbandoned, bHasAbandoned, aMovedOn, bSwept := newSignal(), newSignal(), newSignal(), newSignal()
	hooks := map[string]func(f *store.File){
		"A": func(f *store.File) {
			switch f.ID {
			case abandoned.ID:
				aHasAbandoned.fire()
				bHasAbandoned.wait(t, "B to list the abandoned upload")
			case uploaded.ID:
				aMovedOn.fire()
				bSwept.wait(t, "B's sweep")
			}
		},
		"B": func(f *store.File) {
			if f.ID == abandoned.ID {
				bHasAbandoned.fire()
				aHasAbandoned.wait(t, "A to list the abandoned upload")
				aMovedOn.wait(t, "A to expire the abandoned upload and move on")
			}
		},
	}
	counts := map[string]sweeper.Counts{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, hook := range hooks {
		sw, err := sweeper.New(sweeper.Config{
			Store: st, Completer: &hookCompleter{st: st, backend: backend, hook: hook},
			Backends: map[string]sweeper.Backend{"mem": backend}, Interval: time.Second, BatchSize: 1,
			Grace: time.Minute, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			c, err := sw.Sweep(context.Background())
			if err != nil {
				t.Errorf("sweep %s: %v", name, err)
			}
			if name == "B" {
				bSwept.fire()
			}
			mu.Lock()
			counts[name] = c
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("counts: A %+v, B %+v", counts["A"], counts["B"])

	for _, w := range []struct {
		f     *store.File
		state store.State
		by    string
	}{{abandoned, store.StateExpired, ""}, {uploaded, store.StateReady, store.CompletedBySweeper}} {
		got, err := st.GetFile(ctx, "t", w.f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != w.state || got.CompletedBy != w.by {
			t.Errorf("%s is %s (completed by %q), want %s (completed by %q)", w.f.ID, got.State, got.CompletedBy, w.state, w.by)
		}
	}
	if !backend.has(uploaded.Key) {
		t.Error("the uploaded file's object was deleted")
	}
	if got := counts["A"].Expired + counts["B"].Expired; got != 1 {
		t.Errorf("the sweepers expired %d uploads between them, want 1", got)
	}
	if got := counts["A"].Completed + counts["B"].Completed; got != 1 {
		t.Errorf("the sweepers counted %d completions between them, want 1 (the one that made the file READY)", got)
	}
}

// unavailableCompleter cannot reach any backend.
type unavailableCompleter struct{ calls int }

func (c *unavailableCompleter) CompletePending(_ context.Context, f *store.File, _ string) (*store.File, bool, error) {
	c.calls++
	return nil, false, fmt.Errorf("stat %s: %w", f.Key, signer.ErrUnavailable)
}

// An upload whose backend cannot be reached when it expires may hold bytes
// that did arrive: the sweep leaves it PENDING, with its object, instead of
// expiring it, and ends its expiries (the next batch would list it again).
func TestSweepLeavesUploadsPendingWhileTheirBackendIsUnavailable(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f := file("uploaded-during-outage", store.StatePending, now.Add(-2*time.Minute))
	if err := st.CreateFile(ctx, f, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	backend := &memBackend{objects: map[string]bool{f.Key: true}}
	completer := &unavailableCompleter{}
	sw, err := sweeper.New(sweeper.Config{
		Store: st, Completer: completer, Backends: map[string]sweeper.Backend{"mem": backend},
		Interval: time.Second, BatchSize: 1, Grace: time.Minute,
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expired != 0 || completer.calls != 1 {
		t.Errorf("sweep expired %d and asked the completer %d times, want 0 and 1", c.Expired, completer.calls)
	}
	got, err := st.GetFile(ctx, "t", f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StatePending {
		t.Errorf("the upload is %s, want PENDING until its backend can be reached", got.State)
	}
	if !backend.has(f.Key) {
		t.Error("the upload's object was deleted")
	}
}
