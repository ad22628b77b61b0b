package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/presignd/presignd/store"
)

// RunOutbox runs the conformance suite of store.Outbox and
// store.PendingFiles. newStore must return a new, empty store each time,
// with its events option on or off as events says, and close it when t
// ends.
//
// Decisions the suite pins down, beyond what the interfaces say:
//   - An UpdateFile writes an event only when it changes the file's state
//     (to READY, FAILED, EXPIRED or ABORTED); an update to the same state,
//     or one that fails, writes none.
//   - An event's CreatedAt is the time of its change (the file's
//     UpdatedAt, or the now a lifecycle method is given), and its File is
//     the record as GetFile would have read it just after the change.
//   - RouteEvent of a missing event is ErrNotFound; FinishDelivery,
//     RetryDelivery and BuryDelivery of a missing delivery are ErrNotFound
//     and leave a delivery that is no longer PENDING as it is.
//   - An after of ListDeadDeliveries that names no dead delivery of the
//     tenant starts at the newest.
func RunOutbox(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	t.Run("StateChangesWriteEvents", func(t *testing.T) { testStateChangeEvents(t, newStore) })
	t.Run("EventsOff", func(t *testing.T) { testEventsOff(t, newStore) })
	t.Run("Claims", func(t *testing.T) { testOutboxClaims(t, newStore) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, newStore) })
	t.Run("DeadLetters", func(t *testing.T) { testDeadLetters(t, newStore) })
	t.Run("Prune", func(t *testing.T) { testPruneOutbox(t, newStore) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentOutboxClaims(t, newStore) })
	t.Run("PendingFileByKey", func(t *testing.T) { testPendingFileByKey(t, newStore) })
}

// far is a time after every event and delivery a test makes.
var far = time.Now().Add(24 * time.Hour)

// allEvents claims every unrouted event (with a lease that ends at once)
// and returns them oldest first.
func allEvents(t testing.TB, s store.Store) []*store.Event {
	t.Helper()
	es, err := s.ClaimEvents(t.Context(), far, time.Time{}, 1000)
	if err != nil {
		t.Fatalf("ClaimEvents: %v", err)
	}
	return es
}

// checkEvent fails t unless e is an event of type typ about want (as the
// change left it), created at at.
func checkEvent(t testing.TB, e *store.Event, typ string, want *store.File, at time.Time) {
	t.Helper()
	if e.Type != typ || e.Tenant != want.Tenant || e.Category != want.Category || e.FileID != want.ID {
		t.Errorf("event = %s of %s/%s file %s, want %s of %s/%s file %s",
			e.Type, e.Tenant, e.Category, e.FileID, typ, want.Tenant, want.Category, want.ID)
	}
	if id, err := uuid.Parse(e.ID); err != nil || id.Version() != 7 {
		t.Errorf("event id %q is not a UUIDv7 (%v)", e.ID, err)
	}
	if !e.CreatedAt.Equal(storedTime(at)) || e.CreatedAt.Location() != time.UTC {
		t.Errorf("event %s CreatedAt = %s, want %s in UTC", e.Type, fmtTime(e.CreatedAt), fmtTime(at))
	}
	checkFile(t, "the file of event "+e.Type, want, e.File)
}

func testStateChangeEvents(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	t.Run("UpdateFile to READY writes file.ready with the record as the update left it", func(t *testing.T) {
		s := newStore(t, true)
		f := fullFile(tenantA)
		f.State, f.CompletedBy = store.StatePending, ""
		mustCreate(t, s, f)
		if es := allEvents(t, s); len(es) != 0 {
			t.Fatalf("CreateFile of a PENDING file wrote %d events, want none", len(es))
		}
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State, f.CompletedBy, f.CompletedAt = store.StateReady, store.CompletedByClient, base.Add(time.Hour)
			f.DetectedContentType = "image/png"
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		if got.DetectedContentType != "image/png" {
			t.Errorf("UpdateFile returned DetectedContentType %q, want image/png", got.DetectedContentType)
		}
		checkFile(t, "GetFile after the update", got, mustGet(t, s, tenantA, f.ID))
		es := allEvents(t, s)
		if len(es) != 1 {
			t.Fatalf("UpdateFile to READY wrote %d events, want 1", len(es))
		}
		checkEvent(t, es[0], store.EventFileReady, got, got.UpdatedAt)
		if es[0].File.CompletedBy != store.CompletedByClient {
			t.Errorf("event file CompletedBy = %q, want %q", es[0].File.CompletedBy, store.CompletedByClient)
		}
		if es[0].File.DetectedContentType != "image/png" {
			t.Errorf("event file DetectedContentType = %q, want image/png", es[0].File.DetectedContentType)
		}
	})

	t.Run("each state a change moves a file to has its event type, and staying in a state writes none", func(t *testing.T) {
		for _, c := range []struct {
			to  store.State
			typ string
		}{
			{store.StateReady, store.EventFileReady},
			{store.StateFailed, store.EventFileFailed},
			{store.StateExpired, store.EventFileExpired},
			{store.StateAborted, store.EventFileAborted},
			{store.StatePending, ""},
		} {
			t.Run(string(c.to), func(t *testing.T) {
				s := newStore(t, true)
				f := newFile(tenantA)
				mustCreate(t, s, f)
				move := func(f *store.File) error { f.State = c.to; return nil }
				got, err := s.UpdateFile(t.Context(), tenantA, f.ID, move)
				wantErr(t, "UpdateFile", err, nil)
				// Once more to the same state: no second event.
				_, err = s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error { f.Filename = "renamed"; return nil })
				wantErr(t, "UpdateFile in the same state", err, nil)
				es := allEvents(t, s)
				if c.typ == "" {
					if len(es) != 0 {
						t.Fatalf("updates that keep the file PENDING wrote %d events", len(es))
					}
					return
				}
				if len(es) != 1 {
					t.Fatalf("got %d events, want 1 %s", len(es), c.typ)
				}
				checkEvent(t, es[0], c.typ, got, got.UpdatedAt)
			})
		}
	})

	t.Run("an update that fails or is refused writes no event", func(t *testing.T) {
		s := newStore(t, true)
		holder := newFile(tenantA)
		holder.NameScope, holder.DisplayName = "app", "taken"
		f := newFile(tenantA)
		f.NameScope = "app"
		mustCreate(t, s, holder)
		mustCreate(t, s, f)
		refuse := errors.New("refused")
		_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State = store.StateReady
			return refuse
		})
		wantErr(t, "UpdateFile whose update refuses", err, refuse)
		_, err = s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State, f.DisplayName = store.StateReady, "taken"
			return nil
		})
		wantErr(t, "UpdateFile to a taken name", err, store.ErrNameTaken)
		if es := allEvents(t, s); len(es) != 0 {
			t.Fatalf("failed updates wrote %d events: %v", len(es), es)
		}
		if g := mustGet(t, s, tenantA, f.ID); g.State != store.StatePending {
			t.Fatalf("file is %s after failed updates, want PENDING", g.State)
		}
	})

	t.Run("ExpireUploads, AbortUpload and DeleteFileAndQueueObject write their events at now", func(t *testing.T) {
		s := newStore(t, true)
		ctx := t.Context()
		now := base.Add(time.Hour)
		expiring := pendingUntil(tenantA, now.Add(-time.Minute))
		expiring2 := pendingUntil(tenantB, now.Add(-2*time.Minute))
		aborting := pendingUntil(tenantA, now.Add(time.Hour))
		deleting := fullFile(tenantB)
		for _, f := range []*store.File{expiring, expiring2, aborting, deleting} {
			mustCreate(t, s, f)
		}
		expired, err := s.ExpireUploads(ctx, now, now, 10)
		wantErr(t, "ExpireUploads", err, nil)
		aborted, err := s.AbortUpload(ctx, tenantA, aborting.ID, now.Add(time.Second), now.Add(time.Second))
		wantErr(t, "AbortUpload", err, nil)
		_, err = s.AbortUpload(ctx, tenantA, aborting.ID, now.Add(2*time.Second), now.Add(2*time.Second))
		wantErr(t, "AbortUpload again", err, nil)
		before := mustGet(t, s, tenantB, deleting.ID)
		_, err = s.DeleteFileAndQueueObject(ctx, tenantB, deleting.ID, now.Add(3*time.Second), now.Add(3*time.Second))
		wantErr(t, "DeleteFileAndQueueObject", err, nil)
		_, err = s.DeleteFileAndQueueObject(ctx, tenantB, deleting.ID, now.Add(4*time.Second), now.Add(4*time.Second))
		wantErr(t, "DeleteFileAndQueueObject of a deleted file", err, store.ErrNotFound)

		es := allEvents(t, s)
		if len(es) != 4 {
			t.Fatalf("got %d events, want 2 file.expired, 1 file.aborted, 1 file.deleted", len(es))
		}
		byFile := map[string]*store.Event{}
		for _, e := range es {
			byFile[e.FileID] = e
		}
		for _, f := range expired {
			checkEvent(t, byFile[f.ID], store.EventFileExpired, f, now)
		}
		checkEvent(t, byFile[aborting.ID], store.EventFileAborted, aborted, now.Add(time.Second))
		checkEvent(t, byFile[deleting.ID], store.EventFileDeleted, before, now.Add(3*time.Second))
		for i := 1; i < len(es); i++ {
			if es[i].CreatedAt.Before(es[i-1].CreatedAt) {
				t.Errorf("ClaimEvents order: %s at %s after %s at %s", es[i].Type, fmtTime(es[i].CreatedAt), es[i-1].Type, fmtTime(es[i-1].CreatedAt))
			}
		}
	})

	t.Run("event ids are unique", func(t *testing.T) {
		s := newStore(t, true)
		for range 20 {
			f := newFile(tenantA)
			mustCreate(t, s, f)
			if _, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error { f.State = store.StateReady; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for _, e := range allEvents(t, s) {
			if seen[e.ID] {
				t.Fatalf("event id %s twice", e.ID)
			}
			seen[e.ID] = true
		}
		if len(seen) != 20 {
			t.Fatalf("%d events, want 20", len(seen))
		}
	})
}

func testEventsOff(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, false)
	ctx := t.Context()
	now := base.Add(time.Hour)
	ready, expiring, aborting := newFile(tenantA), pendingUntil(tenantA, now.Add(-time.Minute)), newFile(tenantA)
	for _, f := range []*store.File{ready, expiring, aborting} {
		mustCreate(t, s, f)
	}
	got, err := s.UpdateFile(ctx, tenantA, ready.ID, func(f *store.File) error {
		f.State, f.CompletedBy = store.StateReady, store.CompletedBySweeper
		return nil
	})
	wantErr(t, "UpdateFile", err, nil)
	if got.CompletedBy != store.CompletedBySweeper || mustGet(t, s, tenantA, ready.ID).CompletedBy != store.CompletedBySweeper {
		t.Errorf("CompletedBy not kept with events off")
	}
	if _, err := s.ExpireUploads(ctx, now, now, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AbortUpload(ctx, tenantA, aborting.ID, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteFileAndQueueObject(ctx, tenantA, ready.ID, now, now); err != nil {
		t.Fatal(err)
	}
	if es := allEvents(t, s); len(es) != 0 {
		t.Fatalf("a store with events off wrote %d events", len(es))
	}
	unrouted, pending, oldest, err := s.OutboxBacklog(ctx)
	if err != nil || unrouted != 0 || pending != 0 || !oldest.IsZero() {
		t.Fatalf("OutboxBacklog = %d, %d, %s, %v; want an empty outbox", unrouted, pending, fmtTime(oldest), err)
	}
}

// readyEvents makes n files of tenant READY and returns their events'
// ids, oldest first, leaving them unclaimed.
func readyEvents(t testing.TB, s store.Store, tenant string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		f := newFile(tenant)
		mustCreate(t, s, f)
		if _, err := s.UpdateFile(t.Context(), tenant, f.ID, func(f *store.File) error { f.State = store.StateReady; return nil }); err != nil {
			t.Fatalf("UpdateFile: %v", err)
		}
	}
	for _, e := range allEvents(t, s) {
		if e.Tenant == tenant {
			out = append(out, e.ID)
		}
	}
	if len(out) < n {
		t.Fatalf("%d events of %s, want at least %d", len(out), tenant, n)
	}
	return out
}

func eventIDs(es []*store.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func testOutboxClaims(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	t.Run("a claimed event waits for its lease to end, a routed one is never claimed again", func(t *testing.T) {
		s := newStore(t, true)
		ctx := t.Context()
		ids := readyEvents(t, s, tenantA, 3)
		now := far.Add(time.Hour)
		first, err := s.ClaimEvents(ctx, now, now.Add(time.Minute), 2)
		wantErr(t, "ClaimEvents", err, nil)
		if !slices.Equal(eventIDs(first), ids[:2]) {
			t.Fatalf("ClaimEvents(limit 2) = %v, want the oldest two %v", eventIDs(first), ids[:2])
		}
		second, err := s.ClaimEvents(ctx, now, now.Add(time.Minute), 10)
		wantErr(t, "ClaimEvents", err, nil)
		if !slices.Equal(eventIDs(second), ids[2:]) {
			t.Fatalf("ClaimEvents within the lease = %v, want only %v", eventIDs(second), ids[2:])
		}
		wantErr(t, "RouteEvent", s.RouteEvent(ctx, ids[0], []string{"webhook:a", "nats"}, now), nil)
		again, err := s.ClaimEvents(ctx, now.Add(time.Minute), now.Add(2*time.Minute), 10)
		wantErr(t, "ClaimEvents", err, nil)
		if !slices.Equal(eventIDs(again), ids[1:]) {
			t.Fatalf("ClaimEvents after the lease = %v, want the unrouted %v", eventIDs(again), ids[1:])
		}
		unrouted, pending, oldest, err := s.OutboxBacklog(ctx)
		wantErr(t, "OutboxBacklog", err, nil)
		if unrouted != 2 || pending != 2 || !oldest.Equal(again[0].CreatedAt) {
			t.Fatalf("OutboxBacklog = %d unrouted, %d pending, oldest %s; want 2, 2, the oldest unrouted event's %s",
				unrouted, pending, fmtTime(oldest), fmtTime(again[0].CreatedAt))
		}
	})

	t.Run("routing an event again does nothing, with no sinks it is routed all the same", func(t *testing.T) {
		s := newStore(t, true)
		ctx := t.Context()
		ids := readyEvents(t, s, tenantA, 2)
		now := far
		wantErr(t, "RouteEvent", s.RouteEvent(ctx, ids[0], []string{"webhook:a", "nats"}, now), nil)
		wantErr(t, "RouteEvent again", s.RouteEvent(ctx, ids[0], []string{"webhook:a", "webhook:b"}, now.Add(time.Hour)), nil)
		wantErr(t, "RouteEvent to no sink", s.RouteEvent(ctx, ids[1], nil, now), nil)
		wantErr(t, "RouteEvent of a missing event", s.RouteEvent(ctx, uuid.NewString(), []string{"nats"}, now), store.ErrNotFound)
		ds, err := s.ClaimDeliveries(ctx, now.Add(2*time.Hour), now.Add(3*time.Hour), 10)
		wantErr(t, "ClaimDeliveries", err, nil)
		var sinks []string
		for _, d := range ds {
			if d.Event.ID != ids[0] {
				t.Errorf("delivery %d is of event %s, want %s", d.ID, d.Event.ID, ids[0])
			}
			sinks = append(sinks, d.Sink)
		}
		slices.Sort(sinks)
		if !slices.Equal(sinks, []string{"nats", "webhook:a"}) {
			t.Fatalf("deliveries to %v, want nats and webhook:a once each", sinks)
		}
		if es := allEvents(t, s); len(es) != 0 {
			t.Fatalf("%d events still unrouted", len(es))
		}
	})

	t.Run("a non-positive limit is an error", func(t *testing.T) {
		s := newStore(t, true)
		if _, err := s.ClaimEvents(t.Context(), far, far, 0); err == nil {
			t.Error("ClaimEvents(limit 0) succeeded")
		}
		if _, err := s.ClaimDeliveries(t.Context(), far, far, 0); err == nil {
			t.Error("ClaimDeliveries(limit 0) succeeded")
		}
		if _, _, err := s.ListDeadDeliveries(t.Context(), tenantA, 0, 0); err == nil {
			t.Error("ListDeadDeliveries(limit 0) succeeded")
		}
		if _, err := s.PruneOutbox(t.Context(), far, 0); err == nil {
			t.Error("PruneOutbox(limit 0) succeeded")
		}
	})
}

func testDeliveries(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, true)
	ctx := t.Context()
	ids := readyEvents(t, s, tenantA, 2)
	t0 := far
	wantErr(t, "RouteEvent", s.RouteEvent(ctx, ids[0], []string{"webhook:a"}, t0.Add(time.Second)), nil)
	wantErr(t, "RouteEvent", s.RouteEvent(ctx, ids[1], []string{"webhook:a"}, t0), nil)

	early, err := s.ClaimDeliveries(ctx, t0.Add(-time.Second), t0.Add(time.Hour), 10)
	wantErr(t, "ClaimDeliveries", err, nil)
	if len(early) != 0 {
		t.Fatalf("ClaimDeliveries before they are due = %d deliveries", len(early))
	}
	lease := t0.Add(time.Minute)
	ds, err := s.ClaimDeliveries(ctx, t0.Add(time.Second), lease, 10)
	wantErr(t, "ClaimDeliveries", err, nil)
	if len(ds) != 2 || ds[0].Event.ID != ids[1] || ds[1].Event.ID != ids[0] {
		t.Fatalf("ClaimDeliveries = %v, want the delivery due first (of %s) first", ds, ids[1])
	}
	for _, d := range ds {
		if d.State != store.DeliveryPending || d.Attempts != 1 || !d.NotBefore.Equal(storedTime(lease)) || d.Sink != "webhook:a" || !d.FinishedAt.IsZero() {
			t.Errorf("claimed delivery = %+v, want PENDING, 1 attempt, leased until %s", d, fmtTime(lease))
		}
		if d.Event.File == nil || d.Event.File.ID != d.Event.FileID || d.Event.File.State != store.StateReady {
			t.Errorf("claimed delivery's event file = %+v, want the READY file %s", d.Event.File, d.Event.FileID)
		}
	}
	if again, err := s.ClaimDeliveries(ctx, lease.Add(-time.Microsecond), lease.Add(time.Hour), 10); err != nil || len(again) != 0 {
		t.Fatalf("ClaimDeliveries within the lease = %d, %v; want none", len(again), err)
	}
	ok, retry := ds[0], ds[1]
	wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, ok.ID, t0.Add(2*time.Second)), nil)
	wantErr(t, "RetryDelivery", s.RetryDelivery(ctx, retry.ID, t0.Add(time.Hour), "HTTP 500"), nil)
	// Past the lease: only the retried one, and only once due.
	if got, err := s.ClaimDeliveries(ctx, t0.Add(time.Hour-time.Microsecond), t0.Add(2*time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("ClaimDeliveries before the retry is due = %d, %v; want none", len(got), err)
	}
	got, err := s.ClaimDeliveries(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
	wantErr(t, "ClaimDeliveries", err, nil)
	if len(got) != 1 || got[0].ID != retry.ID || got[0].Attempts != 2 || got[0].LastError != "HTTP 500" {
		t.Fatalf("ClaimDeliveries after the retry = %+v, want delivery %d on its 2nd attempt with its last error", got, retry.ID)
	}
	// A finished delivery stays finished.
	wantErr(t, "RetryDelivery of a delivered one", s.RetryDelivery(ctx, ok.ID, t0, "late"), nil)
	wantErr(t, "BuryDelivery of a delivered one", s.BuryDelivery(ctx, ok.ID, t0, "late"), nil)
	if got, err := s.ClaimDeliveries(ctx, far.Add(1000*time.Hour), far.Add(1001*time.Hour), 10); err != nil || len(got) != 1 || got[0].ID != retry.ID {
		t.Fatalf("ClaimDeliveries = %v, %v; want the retried one only (the delivered one stays DELIVERED)", got, err)
	}
	if dead, _, err := s.ListDeadDeliveries(ctx, tenantA, 0, 10); err != nil || len(dead) != 0 {
		t.Fatalf("ListDeadDeliveries = %v, %v; want none (burying a delivered one leaves it DELIVERED)", deliveryIDs(dead), err)
	}
	for name, err := range map[string]error{
		"FinishDelivery": s.FinishDelivery(ctx, 1<<40, t0),
		"RetryDelivery":  s.RetryDelivery(ctx, 1<<40, t0, "x"),
		"BuryDelivery":   s.BuryDelivery(ctx, 1<<40, t0, "x"),
	} {
		wantErr(t, name+" of a missing delivery", err, store.ErrNotFound)
	}
}

// deadDelivery routes a new file.ready event of tenant to sink and buries
// its delivery at at.
func deadDelivery(t testing.TB, s store.Store, tenant, sink string, at time.Time) int64 {
	t.Helper()
	ctx := t.Context()
	ids := readyEvents(t, s, tenant, 1)
	if err := s.RouteEvent(ctx, ids[len(ids)-1], []string{sink}, at); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ClaimDeliveries(ctx, at, at.Add(time.Minute), 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDeliveries = %v, %v", ds, err)
	}
	if err := s.BuryDelivery(ctx, ds[0].ID, at, "gave up: HTTP 500"); err != nil {
		t.Fatal(err)
	}
	return ds[0].ID
}

func deliveryIDs(ds []*store.Delivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testDeadLetters(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, true)
	ctx := t.Context()
	var dead []int64 // tenant A's, oldest first
	for i := range 5 {
		dead = append(dead, deadDelivery(t, s, tenantA, "webhook:a", far.Add(time.Duration(i)*time.Minute)))
	}
	other := deadDelivery(t, s, tenantB, "webhook:b", far)

	var listed []int64
	after := int64(0)
	for range 10 {
		page, more, err := s.ListDeadDeliveries(ctx, tenantA, after, 2)
		wantErr(t, "ListDeadDeliveries", err, nil)
		for _, d := range page {
			if d.State != store.DeliveryDead || d.LastError != "gave up: HTTP 500" || d.Event == nil || d.Event.Tenant != tenantA || d.FinishedAt.IsZero() {
				t.Errorf("dead letter = %+v, want a DEAD delivery of tenant A with its error, event and time", d)
			}
		}
		listed = append(listed, deliveryIDs(page)...)
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	want := slices.Clone(dead)
	slices.Reverse(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("dead letters of tenant A, paged by 2 = %v, want %v (newest first, none of tenant B)", listed, want)
	}

	_, err := s.RedeliverDelivery(ctx, tenantA, other, far)
	wantErr(t, "RedeliverDelivery of another tenant's", err, store.ErrNotFound)
	_, err = s.RedeliverDelivery(ctx, tenantA, 1<<40, far)
	wantErr(t, "RedeliverDelivery of a missing one", err, store.ErrNotFound)
	now := far.Add(time.Hour)
	d, err := s.RedeliverDelivery(ctx, tenantA, dead[0], now)
	wantErr(t, "RedeliverDelivery", err, nil)
	if d.ID != dead[0] || d.State != store.DeliveryPending || d.Attempts != 0 || !d.NotBefore.Equal(storedTime(now)) || !d.FinishedAt.IsZero() || d.Event == nil {
		t.Fatalf("redelivered = %+v, want PENDING, 0 attempts, due at %s, with its event", d, fmtTime(now))
	}
	again, err := s.RedeliverDelivery(ctx, tenantA, dead[0], now.Add(time.Hour))
	wantErr(t, "RedeliverDelivery of a PENDING one", err, nil)
	if again.State != store.DeliveryPending || !again.NotBefore.Equal(d.NotBefore) {
		t.Fatalf("RedeliverDelivery of a PENDING delivery changed it: %+v", again)
	}
	ds, err := s.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	wantErr(t, "ClaimDeliveries", err, nil)
	if !slices.Equal(deliveryIDs(ds), []int64{dead[0]}) || ds[0].Attempts != 1 {
		t.Fatalf("ClaimDeliveries after the redelivery = %v, want %d on attempt 1", deliveryIDs(ds), dead[0])
	}
	page, _, err := s.ListDeadDeliveries(ctx, tenantA, 0, 10)
	wantErr(t, "ListDeadDeliveries", err, nil)
	if slices.Contains(deliveryIDs(page), dead[0]) {
		t.Fatalf("the redelivered delivery is still listed dead")
	}
}

func testPruneOutbox(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, true)
	ctx := t.Context()
	ids := readyEvents(t, s, tenantA, 6)
	t0 := far
	// ids[0]: delivered at t0; ids[1]: dead at t0; ids[2]: delivered at
	// t0+1h; ids[3]: routed to no sink at t0; ids[4]: never routed;
	// ids[5]: delivered to one sink, still retrying the other.
	for _, id := range append(slices.Clone(ids[:3]), ids[5]) {
		wantErr(t, "RouteEvent", s.RouteEvent(ctx, id, []string{"nats", "webhook:a"}, t0), nil)
	}
	wantErr(t, "RouteEvent", s.RouteEvent(ctx, ids[3], nil, t0), nil)
	ds, err := s.ClaimDeliveries(ctx, t0, t0.Add(time.Minute), 100)
	wantErr(t, "ClaimDeliveries", err, nil)
	for _, d := range ds {
		switch d.Event.ID {
		case ids[0]:
			wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, d.ID, t0), nil)
		case ids[1]:
			if d.Sink == "nats" {
				wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, d.ID, t0), nil)
			} else {
				wantErr(t, "BuryDelivery", s.BuryDelivery(ctx, d.ID, t0, "gone"), nil)
			}
		case ids[2]:
			if d.Sink == "nats" {
				wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, d.ID, t0), nil)
			} else {
				wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, d.ID, t0.Add(time.Hour)), nil)
			}
		case ids[5]:
			if d.Sink == "nats" {
				wantErr(t, "FinishDelivery", s.FinishDelivery(ctx, d.ID, t0), nil)
			} else {
				wantErr(t, "RetryDelivery", s.RetryDelivery(ctx, d.ID, t0.Add(1000*time.Hour), "HTTP 503"), nil)
			}
		}
	}
	n, err := s.PruneOutbox(ctx, t0.Add(time.Minute), 2)
	wantErr(t, "PruneOutbox", err, nil)
	m, err := s.PruneOutbox(ctx, t0.Add(time.Minute), 10)
	wantErr(t, "PruneOutbox", err, nil)
	if n != 2 || m != 1 {
		t.Fatalf("PruneOutbox = %d then %d, want 2 (the limit) then 1: events 0, 1 and 3", n, m)
	}
	page, _, err := s.ListDeadDeliveries(ctx, tenantA, 0, 10)
	wantErr(t, "ListDeadDeliveries", err, nil)
	if len(page) != 0 {
		t.Fatalf("the pruned event's dead delivery is still listed: %v", page)
	}
	unrouted, pending, _, err := s.OutboxBacklog(ctx)
	if err != nil || unrouted != 1 || pending != 1 {
		t.Fatalf("OutboxBacklog = %d, %d, %v; want the never-routed event and the retrying delivery", unrouted, pending, err)
	}
	if n, err := s.PruneOutbox(ctx, t0.Add(2000*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneOutbox past the last finished delivery = %d, %v; want 1 (event 2, not event 5 with a PENDING delivery)", n, err)
	}
	if ds, err := s.ClaimDeliveries(ctx, t0.Add(1000*time.Hour), t0.Add(1001*time.Hour), 10); err != nil || len(ds) != 1 || ds[0].Event.ID != ids[5] {
		t.Fatalf("ClaimDeliveries after pruning = %v, %v; want the retrying delivery of event 5", ds, err)
	}
	if es := allEvents(t, s); !slices.Equal(eventIDs(es), ids[4:5]) {
		t.Fatalf("unrouted events after pruning = %v, want %v", eventIDs(es), ids[4:5])
	}
}

func testConcurrentOutboxClaims(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, true)
	ctx := t.Context()
	const n, workers = 60, 6
	ids := readyEvents(t, s, tenantA, n)
	now := far.Add(time.Hour)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				es, err := s.ClaimEvents(ctx, now, now.Add(time.Hour), 7)
				if err != nil {
					errs <- err
					return
				}
				if len(es) == 0 {
					return
				}
				for _, e := range es {
					if err := s.RouteEvent(ctx, e.ID, []string{"nats"}, now); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					seen[e.ID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent claims: %v", err)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s claimed %d times, want once", id, seen[id])
		}
	}
	delivered := map[int64]int{}
	var wg2 sync.WaitGroup
	errs = make(chan error, workers)
	for range workers {
		wg2.Go(func() {
			for {
				ds, err := s.ClaimDeliveries(ctx, now, now.Add(time.Hour), 7)
				if err != nil {
					errs <- err
					return
				}
				if len(ds) == 0 {
					return
				}
				for _, d := range ds {
					if err := s.FinishDelivery(ctx, d.ID, now); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					delivered[d.ID]++
					mu.Unlock()
				}
			}
		})
	}
	wg2.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent delivery claims: %v", err)
	}
	if len(delivered) != n {
		t.Errorf("%d deliveries claimed, want %d", len(delivered), n)
	}
	for id, c := range delivered {
		if c != 1 {
			t.Errorf("delivery %d claimed %d times, want once", id, c)
		}
	}
}

func testPendingFileByKey(t *testing.T, newStore func(t *testing.T, events bool) store.Store) {
	s := newStore(t, false)
	ctx := t.Context()
	pendingB := newFile(tenantB)
	pendingB.Backend, pendingB.Key = "s3-main", "uploads/shared/"+pendingB.ID
	ready := newFile(tenantA)
	ready.Backend, ready.Key, ready.State = "s3-main", "uploads/ready/"+ready.ID, store.StateReady
	for _, f := range []*store.File{pendingB, ready} {
		mustCreate(t, s, f)
	}
	got, err := s.PendingFileByKey(ctx, "s3-main", pendingB.Key)
	wantErr(t, "PendingFileByKey of another tenant's upload", err, nil)
	checkFile(t, "PendingFileByKey", stored(pendingB), got)
	for _, c := range []struct{ name, backend, key string }{
		{"a READY file's key", "s3-main", ready.Key},
		{"the key on another backend", "gcs", pendingB.Key},
		{"an unknown key", "s3-main", "uploads/unknown"},
		{"a key's prefix", "s3-main", "uploads/shared/"},
	} {
		_, err := s.PendingFileByKey(ctx, c.backend, c.key)
		wantErr(t, fmt.Sprintf("PendingFileByKey of %s", c.name), err, store.ErrNotFound)
	}
	if _, err := s.UpdateFile(ctx, tenantB, pendingB.ID, func(f *store.File) error { f.State = store.StateReady; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = s.PendingFileByKey(ctx, "s3-main", pendingB.Key)
	wantErr(t, "PendingFileByKey after the upload completed", err, store.ErrNotFound)
}
