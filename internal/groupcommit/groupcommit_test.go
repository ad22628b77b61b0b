package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
)

// errRefused and errLost are what the test store's Commit returns for an
// item refused alone and for a lost batch.
var (
	errRefused = errors.New("refused")
	errLost    = errors.New("batch lost")
)

// item is what the test store writes: refuse makes Commit refuse it
// alone, poison makes Commit lose its whole batch.
type item struct {
	id             int
	refuse, poison bool
}

// testStore commits items into a set, recording every batch. Its first
// batch can be held (hold) until released.
type testStore struct {
	mu      sync.Mutex
	stored  map[int]bool
	batches [][]int
	hold    bool
	held    chan struct{} // closed when the first batch is held
	release chan struct{}
	once    sync.Once
}

func newTestStore(hold bool) *testStore {
	return &testStore{stored: map[int]bool{}, hold: hold, held: make(chan struct{}), release: make(chan struct{})}
}

func (s *testStore) commit(items []item) ([]error, error) {
	s.mu.Lock()
	first := len(s.batches) == 0
	ids := make([]int, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	s.batches = append(s.batches, ids)
	s.mu.Unlock()
	if first && s.hold {
		close(s.held)
		<-s.release
	}
	errs := make([]error, len(items))
	lost := false
	for i, it := range items {
		switch {
		case it.refuse:
			errs[i] = errRefused
		case it.poison:
			lost = true
		}
	}
	if lost {
		return errs, errLost
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range items {
		if errs[i] == nil {
			s.stored[it.id] = true
		}
	}
	return errs, nil
}

func (s *testStore) unhold() { s.once.Do(func() { close(s.release) }) }

func (s *testStore) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	sizes := make([]int, len(s.batches))
	for i, b := range s.batches {
		sizes[i] = len(b)
	}
	return sizes
}

func (s *testStore) has(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored[id]
}

// receive returns the next value of ch, failing t when none comes within
// 10 seconds.
func receive[V any](t *testing.T, what string, ch <-chan V) V {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10s", what)
		panic("unreachable")
	}
}

func newWriter(t *testing.T, s *testStore, cfg Config[item]) *Writer[item] {
	t.Helper()
	cfg.Commit = s.commit
	w := New(cfg)
	t.Cleanup(func() { s.unhold(); w.Close() })
	return w
}

// writeAsync starts a Write and returns its outcome.
func writeAsync(ctx context.Context, w *Writer[item], it item) <-chan error {
	done := make(chan error, 1)
	go func() { done <- w.Write(ctx, it) }()
	return done
}

// queueBehindHeld holds the writer on a first batch of its own (item 0),
// queues items one after the other, each once the one before is queued,
// and returns their outcomes in order, and that of item 0.
func queueBehindHeld(t *testing.T, s *testStore, w *Writer[item], items []item) ([]<-chan error, <-chan error) {
	t.Helper()
	first := writeAsync(t.Context(), w, item{id: 0})
	receive(t, "the first batch held", s.held)
	outcomes := make([]<-chan error, len(items))
	for i, it := range items {
		outcomes[i] = writeAsync(t.Context(), w, it)
		testenv.WaitFor(t, "item queued", func() bool { return w.Queued() == i+1 })
	}
	return outcomes, first
}

func TestWrite(t *testing.T) {
	cases := []struct {
		name  string
		items []item
		// want is each item's outcome: nil, errRefused or errLost.
		want []error
	}{
		{
			name:  "items queued together are committed together, each with its own outcome",
			items: []item{{id: 1}, {id: 2, refuse: true}, {id: 3}, {id: 4, refuse: true}},
			want:  []error{nil, errRefused, nil, errRefused},
		},
		{
			name:  "a lost batch fails every item not refused alone, and stores none",
			items: []item{{id: 1}, {id: 2, refuse: true}, {id: 3, poison: true}, {id: 4}},
			want:  []error{errLost, errRefused, errLost, errLost},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestStore(true)
			w := newWriter(t, s, Config[item]{})
			outcomes, first := queueBehindHeld(t, s, w, c.items)
			s.unhold()
			if err := receive(t, "item 0", first); err != nil {
				t.Fatalf("item 0: %v", err)
			}
			for i, it := range c.items {
				err := receive(t, "outcome", outcomes[i])
				if !errors.Is(err, c.want[i]) || (c.want[i] == nil) != (err == nil) {
					t.Errorf("item %d: %v, want %v", it.id, err, c.want[i])
				}
				if stored := s.has(it.id); stored != (err == nil) {
					t.Errorf("item %d: outcome %v, stored %v", it.id, err, stored)
				}
			}
			if sizes := s.batchSizes(); !slices.Equal(sizes, []int{1, len(c.items)}) {
				t.Errorf("batch sizes %v, want [1 %d]", sizes, len(c.items))
			}
			commits, stored := w.Stats()
			wantStored := int64(1)
			for _, err := range c.want {
				if err == nil {
					wantStored++
				}
			}
			wantCommits := int64(2)
			if slices.Contains(c.want, errLost) {
				wantCommits = 1
			}
			if commits != wantCommits || stored != wantStored {
				t.Errorf("Stats = %d commits, %d items; want %d, %d", commits, stored, wantCommits, wantStored)
			}
		})
	}

	t.Run("batches hold at most MaxBatch items", func(t *testing.T) {
		s := newTestStore(true)
		w := newWriter(t, s, Config[item]{MaxBatch: 3})
		outcomes, first := queueBehindHeld(t, s, w, []item{{id: 1}, {id: 2}, {id: 3}, {id: 4}, {id: 5}})
		s.unhold()
		receive(t, "item 0", first)
		for _, o := range outcomes {
			if err := receive(t, "outcome", o); err != nil {
				t.Fatal(err)
			}
		}
		if sizes := s.batchSizes(); !slices.Equal(sizes, []int{1, 3, 2}) {
			t.Errorf("batch sizes %v, want [1 3 2]", sizes)
		}
	})

	t.Run("with two writers a batch commits while another is held", func(t *testing.T) {
		s := newTestStore(true)
		w := newWriter(t, s, Config[item]{Writers: 2})
		first := writeAsync(t.Context(), w, item{id: 0})
		receive(t, "the first batch held", s.held)
		if err := receive(t, "a write while the first batch is held", writeAsync(t.Context(), w, item{id: 1})); err != nil {
			t.Fatal(err)
		}
		s.unhold()
		if err := receive(t, "item 0", first); err != nil {
			t.Fatal(err)
		}
		if commits, items := w.Stats(); commits != 2 || items != 2 {
			t.Errorf("Stats = %d commits, %d items; want 2, 2", commits, items)
		}
	})

	t.Run("a caller cancelled while queued returns at once and its item is never applied", func(t *testing.T) {
		s := newTestStore(true)
		w := newWriter(t, s, Config[item]{})
		first := writeAsync(t.Context(), w, item{id: 0})
		receive(t, "the first batch held", s.held)
		ctx, cancel := context.WithCancel(t.Context())
		cancelled := writeAsync(ctx, w, item{id: 1})
		testenv.WaitFor(t, "item 1 queued", func() bool { return w.Queued() == 1 })
		kept := writeAsync(t.Context(), w, item{id: 2})
		testenv.WaitFor(t, "item 2 queued", func() bool { return w.Queued() == 2 })
		cancel()
		if err := receive(t, "the cancelled write", cancelled); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled write: %v, want context.Canceled", err)
		}
		s.unhold()
		receive(t, "item 0", first)
		if err := receive(t, "the kept write", kept); err != nil {
			t.Errorf("kept write: %v", err)
		}
		if s.has(1) || !s.has(2) {
			t.Errorf("stored 1: %v, 2: %v; want only 2", s.has(1), s.has(2))
		}
		if sizes := s.batchSizes(); !slices.Equal(sizes, []int{1, 1}) {
			t.Errorf("batch sizes %v, want [1 1]: the cancelled item was applied", sizes)
		}
	})

	t.Run("items queued when the writer closes fail with ErrClosed or are stored", func(t *testing.T) {
		s := newTestStore(true)
		w := newWriter(t, s, Config[item]{})
		items := []item{{id: 1}, {id: 2}, {id: 3}, {id: 4}, {id: 5}}
		outcomes, first := queueBehindHeld(t, s, w, items)
		closed := make(chan struct{})
		go func() { w.Close(); close(closed) }()
		// Release the held batch only once Close has told the writer to stop.
		receive(t, "Close stopping the writer", w.stop)
		s.unhold()
		if err := receive(t, "item 0", first); err != nil {
			t.Fatalf("the batch being applied at Close: %v", err)
		}
		for i, it := range items {
			err := receive(t, "outcome", outcomes[i])
			switch {
			case err == nil && !s.has(it.id):
				t.Errorf("item %d succeeded but is not stored", it.id)
			case err != nil && !errors.Is(err, ErrClosed):
				t.Errorf("item %d: %v, want nil or ErrClosed", it.id, err)
			case err != nil && s.has(it.id):
				t.Errorf("item %d failed (%v) but is stored", it.id, err)
			}
		}
		receive(t, "Close", closed)
		if err := w.Write(t.Context(), item{id: 6}); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
	})
}

// TestAnticipate covers Anticipate: the writer holds a batch open for
// announced writes until they queue or are called off, and for nothing
// else. The wait is an hour, so a writer that waited where it should not
// would hang the test.
func TestAnticipate(t *testing.T) {
	open := func(t *testing.T) (*testStore, *Writer[item], <-chan struct{}) {
		t.Helper()
		s := newTestStore(false)
		w := newWriter(t, s, Config[item]{AnticipateWait: time.Hour})
		holding := make(chan struct{}, 16)
		w.holding = func() { holding <- struct{}{} }
		return s, w, holding
	}
	// heldOpen fails unless the writer holds a batch open, with the write
	// done is the outcome of in it, not yet applied.
	heldOpen := func(t *testing.T, holding <-chan struct{}, done <-chan error) {
		t.Helper()
		receive(t, "the writer holding a batch open", holding)
		select {
		case err := <-done:
			t.Fatalf("the write finished (%v) while its batch was held open", err)
		default:
		}
	}

	t.Run("a batch is held open until the announced write queues", func(t *testing.T) {
		s, w, holding := open(t)
		ctx, done := w.Anticipate(t.Context())
		defer done()
		first := writeAsync(t.Context(), w, item{id: 1})
		heldOpen(t, holding, first)
		if err := w.Write(ctx, item{id: 2}); err != nil {
			t.Fatal(err)
		}
		if err := receive(t, "the first write", first); err != nil {
			t.Fatal(err)
		}
		if sizes := s.batchSizes(); !slices.Equal(sizes, []int{2}) {
			t.Errorf("batch sizes %v, want [2]: both writes in the held batch", sizes)
		}
		if commits, items := w.Stats(); commits != 1 || items != 2 {
			t.Errorf("Stats = %d commits, %d items; want 1, 2", commits, items)
		}
	})
	t.Run("calling the announcement off releases the batch", func(t *testing.T) {
		s, w, holding := open(t)
		_, done := w.Anticipate(t.Context())
		first := writeAsync(t.Context(), w, item{id: 1})
		heldOpen(t, holding, first)
		done()
		if err := receive(t, "the first write", first); err != nil {
			t.Fatal(err)
		}
		if sizes := s.batchSizes(); !slices.Equal(sizes, []int{1}) {
			t.Errorf("batch sizes %v, want [1]", sizes)
		}
	})
	t.Run("without announcements no batch waits", func(t *testing.T) {
		_, w, holding := open(t)
		receive(t, "a write", writeAsync(t.Context(), w, item{id: 1}))
		ctx, done := w.Anticipate(t.Context())
		receive(t, "an announced write", writeAsync(ctx, w, item{id: 2})) // its announcement ends as it queues
		done()
		done()
		if n := w.Anticipated(); n != 0 {
			t.Errorf("%d announced writes still counted, want 0", n)
		}
		receive(t, "a write", writeAsync(t.Context(), w, item{id: 3}))
		if len(holding) != 0 {
			t.Errorf("the writer held %d batches open", len(holding))
		}
	})
	t.Run("an announcement to another writer is not this one's", func(t *testing.T) {
		_, w, _ := open(t)
		_, other, _ := open(t)
		ctx, done := other.Anticipate(t.Context())
		defer done()
		receive(t, "a write", writeAsync(ctx, w, item{id: 1}))
		if n := other.Anticipated(); n != 1 {
			t.Errorf("the other writer counts %d announced writes, want 1", n)
		}
	})
	t.Run("without AnticipateWait announcements hold nothing", func(t *testing.T) {
		s := newTestStore(false)
		w := newWriter(t, s, Config[item]{})
		_, done := w.Anticipate(t.Context())
		defer done()
		receive(t, "a write", writeAsync(t.Context(), w, item{id: 1}))
	})
	t.Run("Close does not wait for announced writes", func(t *testing.T) {
		_, w, holding := open(t)
		_, done := w.Anticipate(t.Context())
		defer done()
		first := writeAsync(t.Context(), w, item{id: 1})
		heldOpen(t, holding, first)
		closed := make(chan struct{})
		go func() { w.Close(); close(closed) }()
		if err := receive(t, "the held write", first); err != nil {
			t.Fatalf("the held batch is applied as the writer closes: %v", err)
		}
		receive(t, "Close", closed)
	})
}

// TestBetween covers Config.Between: called as the writer starts, after
// every batch, and once the delay it asked for has passed.
func TestBetween(t *testing.T) {
	type call struct{ due bool }
	calls := make(chan call, 64)
	// It asks for a delayed call after the first batch only.
	var mu sync.Mutex
	batches := 0
	s := newTestStore(false)
	w := newWriter(t, s, Config[item]{Between: func(due bool) time.Duration {
		calls <- call{due}
		mu.Lock()
		defer mu.Unlock()
		if !due && batches == 1 {
			return time.Millisecond
		}
		return 0
	}})
	if c := receive(t, "the call at start", calls); c.due {
		t.Errorf("the call at start is due")
	}
	mu.Lock()
	batches = 1
	mu.Unlock()
	if err := w.Write(t.Context(), item{id: 1}); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, "the call after the batch", calls); c.due {
		t.Errorf("the call after the batch is due")
	}
	if c := receive(t, "the delayed call", calls); !c.due {
		t.Errorf("the delayed call is not due")
	}
	mu.Lock()
	batches = 2
	mu.Unlock()
	if err := w.Write(t.Context(), item{id: 2}); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, "the call after the second batch", calls); c.due {
		t.Errorf("the call after the second batch is due")
	}
	w.Close()
	if len(calls) != 0 {
		t.Errorf("%d calls more than asked for", len(calls))
	}
}
