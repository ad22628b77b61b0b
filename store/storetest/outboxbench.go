package storetest

import (
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// RunOutboxBenchmarks measures what the outbox costs a file's life on the
// request path: CreateFile then UpdateFile to READY (one file.ready event
// written in the update's transaction), with the store's events option
// off, then on, in the same run. Besides ns/op it reports cpu-ns/op, the
// CPU time of the whole process (the store's and, for an embedded
// database, the database's) per file, where the platform tells it.
func RunOutboxBenchmarks(b *testing.B, newStore func(b *testing.B, events bool) store.Store) {
	for _, events := range []bool{false, true} {
		name := "CreateFile and UpdateFile to READY/events=off"
		if events {
			name = "CreateFile and UpdateFile to READY/events=on"
		}
		b.Run(name, func(b *testing.B) {
			s := newStore(b, events)
			ctx := b.Context()
			i := 0
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				i++
				f := benchFile(tenantA, i)
				f.State, f.CompletedAt = store.StatePending, time.Time{}
				if err := s.CreateFile(ctx, f, store.Quota{}); err != nil {
					b.Fatal(err)
				}
				if _, err := s.UpdateFile(ctx, tenantA, f.ID, func(f *store.File) error {
					f.State, f.CompletedBy, f.CompletedAt = store.StateReady, store.CompletedByClient, f.UpdatedAt
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
			// The measured work is the one intended: an event per file
			// with events on, none with them off.
			unrouted, _, _, err := s.OutboxBacklog(ctx)
			if want := int64(b.N); err != nil || (events && unrouted != want) || (!events && unrouted != 0) {
				b.Fatalf("OutboxBacklog = %d unrouted, %v; want %d with events %v", unrouted, err, map[bool]int64{true: want}[events], events)
			}
		})
	}
}
