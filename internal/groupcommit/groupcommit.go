// Package groupcommit applies writes that arrive together in one commit.
//
// A database pays for every COMMIT (a WAL flush, a round trip), and under
// concurrent writes that cost, not the writes, bounds throughput. A Writer
// has callers queue their items for one goroutine, which takes every
// queued item (up to MaxBatch) and hands them to Config.Commit in one
// call, which applies them in one transaction:
//
//   - Commit reports an error per item (an item refused on its own, such as
//     a duplicate, undone alone while the others go on) and an error for
//     the batch (the transaction is lost: then none of its items is
//     stored). Each caller gets its own outcome only once Commit has
//     returned, so an acknowledged write is committed;
//   - Commit never runs on a caller's context (cancelling one caller must
//     not interrupt the others' writes). A caller whose context ends while
//     its item is still queued gets the context's error and its item is
//     never applied; a caller whose item was taken waits for the outcome,
//     so the error it returns is always the truth;
//   - a batch waits only for writes it was told about. While one batch
//     commits the next callers queue, so batches grow with the load; on
//     top of that a request may announce its write as soon as it arrives
//     (Anticipate), and while announced writes have not queued the writer
//     holds the batch it is filling open for them, at most
//     Config.AnticipateWait. A lone caller, or the last of a few, waits for
//     nobody.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Write once the Writer is closed, for an item
// that was not applied.
var ErrClosed = errors.New("groupcommit: writer closed")

// Defaults of Config.
const (
	DefaultMaxBatch = 64
	DefaultQueueLen = 1024
)

// Config configures New.
type Config[T any] struct {
	// Commit applies items, in order, in one transaction. errs, of
	// len(items) (or nil when none was refused), holds the error that
	// refused each item alone, its write undone; err, when not nil, says
	// why the transaction as a whole failed, and then no item of it is
	// stored. It runs on the writer goroutine, one call at a time.
	Commit func(items []T) (errs []error, err error)
	// MaxBatch is the most items one Commit gets; 0 means DefaultMaxBatch.
	MaxBatch int
	// QueueLen is how many items may wait for the writer before Write
	// waits to queue; 0 means DefaultQueueLen.
	QueueLen int
	// AnticipateWait bounds how long a batch is held open for announced
	// writes (Anticipate) that have not queued; 0 never holds one.
	AnticipateWait time.Duration
	// Writers is how many goroutines take batches from the queue and
	// commit them, each one batch at a time; 0 means 1. With more than
	// one, Commit must be safe for concurrent use: while one batch waits
	// for its commit (a WAL flush, a round trip), another can be sent.
	Writers int
	// Between, when set, is work the (first) writer goroutine does between
	// batches (such as indexing what they stored). The writer calls it
	// when it starts, after every batch (due false) and, when it last
	// returned a positive delay, once that delay has passed (due true).
	// Its result asks for that call: 0 cancels a pending one, and a
	// positive delay starts the clock unless it is already running.
	Between func(due bool) time.Duration
}

// Writer queues items and commits them in batches on one goroutine. It is
// safe for concurrent use.
type Writer[T any] struct {
	cfg     Config[T]
	queue   chan *request[T]
	stop    chan struct{} // closed by Close: stop taking items
	stopped chan struct{} // closed when the goroutines have returned
	once    sync.Once
	// commits and committed count the batches committed and the items
	// they stored.
	commits, committed atomic.Int64
	ann                *announcements
	// holding, when set (tests), runs when the writer starts holding a
	// batch open for announced writes.
	holding func()
}

// States of a request.
const (
	queued  int32 = iota
	taken         // the writer applies it; the caller waits for done
	dropped       // the caller left before the writer took it
)

// request is one queued item.
type request[T any] struct {
	ctx   context.Context
	item  T
	state atomic.Int32
	done  chan error // buffered: the writer never waits on it
}

// New starts a Writer; Close stops it.
func New[T any](cfg Config[T]) *Writer[T] {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 1
	}
	w := &Writer[T]{
		cfg:     cfg,
		queue:   make(chan *request[T], cfg.QueueLen),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		ann:     &announcements{arrived: make(chan struct{}, 1)},
	}
	var wg sync.WaitGroup
	for i := range cfg.Writers {
		wg.Go(func() { w.run(i == 0) })
	}
	go func() { wg.Wait(); close(w.stopped) }()
	return w
}

// Close stops the writers after the batches they are applying; items
// still queued fail with ErrClosed. Announced writes are not waited for.
func (w *Writer[T]) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.stopped
}

// Stats reports how many batches have committed and how many items they
// stored: items/commits is the mean number of writes that shared a commit.
func (w *Writer[T]) Stats() (commits, items int64) {
	return w.commits.Load(), w.committed.Load()
}

// Queued is how many items wait for the writer.
func (w *Writer[T]) Queued() int { return len(w.queue) }

// Anticipated is how many announced writes have neither queued nor been
// called off.
func (w *Writer[T]) Anticipated() int { return int(w.ann.arriving.Load()) }

// announcements counts the writes announced to one Writer.
type announcements struct {
	// arriving is how many announced writes have not queued; arrived
	// wakes a writer holding a batch open for them when one queues or is
	// called off.
	arriving atomic.Int64
	arrived  chan struct{}
}

// announcement is one write announced by Anticipate.
type announcement struct {
	to   *announcements
	over atomic.Bool
}

type announcementKey struct{}

// Anticipate announces a Write that the caller is about to make with the
// returned context: until it queues, the writer may hold the batch it is
// filling open for it (at most Config.AnticipateWait), so that requests
// handled at the same time share a commit. done calls the announcement
// off; every announcement must end with done, which is harmless once the
// Write has been made (or when called twice). An announcement left open
// only makes batches wait AnticipateWait.
func (w *Writer[T]) Anticipate(ctx context.Context) (_ context.Context, done func()) {
	w.ann.arriving.Add(1)
	a := &announcement{to: w.ann}
	return context.WithValue(ctx, announcementKey{}, a), a.end
}

// arrive uncounts a, the first time only, as its write queues: the queued
// item wakes the writer.
func (a *announcement) arrive() bool {
	if !a.over.CompareAndSwap(false, true) {
		return false
	}
	a.to.arriving.Add(-1)
	return true
}

// end uncounts a, the first time only, and wakes a writer waiting for it.
func (a *announcement) end() {
	if !a.arrive() {
		return
	}
	select {
	case a.to.arrived <- struct{}{}:
	default:
	}
}

// Write queues item, waits for the batch that applies it and returns its
// outcome: nil once committed, the error Commit gave the item or its
// batch, ctx's error when ctx ended before the writer took the item (which
// is then never applied), or ErrClosed.
func (w *Writer[T]) Write(ctx context.Context, item T) error {
	if a, ok := ctx.Value(announcementKey{}).(*announcement); ok && a.to == w.ann {
		// Uncounted just before it queues, so that a writer waiting for
		// it is woken once, by the item.
		a.arrive()
	}
	r := &request[T]{ctx: ctx, item: item, done: make(chan error, 1)}
	select {
	case <-w.stop:
		return ErrClosed
	default:
	}
	select {
	case w.queue <- r:
	case <-w.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, dropped) {
			return ctx.Err()
		}
	case <-w.stopped:
		if r.state.CompareAndSwap(queued, dropped) {
			return ErrClosed
		}
	}
	// The writer took it first: its outcome is decided by the batch.
	return <-r.done
}

// run takes and commits batches until Close; first runs Between.
func (w *Writer[T]) run(first bool) {
	batch := make([]*request[T], 0, w.cfg.MaxBatch)
	// The clock of Between's delayed call.
	betweenTimer := time.NewTimer(time.Hour)
	betweenTimer.Stop()
	armed := false
	between := func(due bool) {
		if w.cfg.Between == nil || !first {
			return
		}
		switch d := w.cfg.Between(due); {
		case d <= 0 && armed:
			betweenTimer.Stop()
			armed = false
		case d > 0 && !armed:
			betweenTimer.Reset(d)
			armed = true
		}
	}
	// The clock of a batch held open for announced writes.
	waitTimer := time.NewTimer(time.Hour)
	waitTimer.Stop()
	between(false)
	for {
		batch = batch[:0]
		select {
		case r := <-w.queue:
			batch = append(batch, r)
		case <-betweenTimer.C:
			armed = false
			between(true)
			continue
		case <-w.stop:
			w.drain()
			return
		}
		w.fill(&batch, waitTimer)
		w.apply(batch)
		between(false)
	}
}

// fill adds queued items to batch, up to MaxBatch: those queued now and,
// while announced writes have not queued, those that do within
// AnticipateWait. timer is stopped on entry and on return.
func (w *Writer[T]) fill(batch *[]*request[T], timer *time.Timer) {
	waiting := false
	defer func() {
		if waiting {
			timer.Stop()
		}
	}()
	for len(*batch) < w.cfg.MaxBatch {
		select {
		case r := <-w.queue:
			*batch = append(*batch, r)
			continue
		default:
		}
		if w.cfg.AnticipateWait <= 0 || w.ann.arriving.Load() <= 0 {
			return
		}
		if !waiting {
			timer.Reset(w.cfg.AnticipateWait)
			waiting = true
			if w.holding != nil {
				w.holding()
			}
		}
		select {
		case r := <-w.queue:
			*batch = append(*batch, r)
		case <-w.ann.arrived: // one arrived or was called off: look again
		case <-timer.C:
			waiting = false
			return
		case <-w.stop: // apply what it holds; run then stops
			return
		}
	}
}

// drain fails the items left in the queue once the writer closes.
func (w *Writer[T]) drain() {
	for {
		select {
		case r := <-w.queue:
			if r.state.CompareAndSwap(queued, taken) {
				r.done <- ErrClosed
			}
		default:
			return
		}
	}
}

// apply commits the items of batch whose callers still wait and hands
// each caller its outcome.
func (w *Writer[T]) apply(batch []*request[T]) {
	live := batch[:0]
	for _, r := range batch {
		if !r.state.CompareAndSwap(queued, taken) {
			continue // the caller left while it was queued
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	items := make([]T, len(live))
	for i, r := range live {
		items[i] = r.item
	}
	errs, batchErr := w.cfg.Commit(items)
	own := func(i int) error {
		if i < len(errs) {
			return errs[i]
		}
		return nil
	}
	if batchErr == nil {
		// Counted before any caller hears of its outcome.
		stored := 0
		for i := range live {
			if own(i) == nil {
				stored++
			}
		}
		w.commits.Add(1)
		w.committed.Add(int64(stored))
	}
	for i, r := range live {
		switch {
		case own(i) != nil:
			// Refused on its own: not stored, whatever became of the batch.
			r.done <- own(i)
		case batchErr != nil:
			r.done <- batchErr
		default:
			r.done <- nil
		}
	}
}
