package storetest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// RunBenchmarks measures the store operations on the request path.
// newStore must return a new, empty store each time it is called and close
// it when b ends.
func RunBenchmarks(b *testing.B, newStore func(b *testing.B) store.Store) {
	b.Run("CreateFile", func(b *testing.B) {
		s := newStore(b)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			f := benchFile(tenantA, i)
			if err := s.CreateFile(b.Context(), f, store.Quota{}); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Many callers at once, as a busy server creates files: a driver may
	// apply concurrent creates together (SQLite's group commit).
	b.Run("CreateFile from 32 goroutines", func(b *testing.B) {
		s := newStore(b)
		var next atomic.Int64
		b.SetParallelism(32)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f := benchFile(tenantA, int(next.Add(1)))
				if err := s.CreateFile(b.Context(), f, store.Quota{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportCreatesPerCommit(b, s)
	})

	b.Run("CreateFile with name scope and quota", func(b *testing.B) {
		s := newStore(b)
		seedFiles(b, s, 1000)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			f := benchFile(tenantA, 1_000_000+i)
			f.NameScope, f.DisplayName = "app-1", "bench file "+strconv.Itoa(i)
			if err := s.CreateFile(b.Context(), f, store.Quota{MaxBytes: 1 << 50}); err != nil {
				b.Fatal(err)
			}
		}
	})

	// The write a download URL costs (Files.RecordDownloadURL), against
	// the UpdateFile it replaces.
	b.Run("RecordDownloadURL", func(b *testing.B) {
		s := newStore(b)
		files := seedFiles(b, s, 1000)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if err := s.RecordDownloadURL(b.Context(), tenantA, files[i%len(files)].ID, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateFile", func(b *testing.B) {
		s := newStore(b)
		files := seedFiles(b, s, 1000)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			_, err := s.UpdateFile(b.Context(), tenantA, files[i%len(files)].ID, func(f *store.File) error {
				f.LastURLAt = time.Now()
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("GetFile", func(b *testing.B) {
		s := newStore(b)
		files := seedFiles(b, s, 1000)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := s.GetFile(b.Context(), tenantA, files[i%len(files)].ID); err != nil {
				b.Fatal(err)
			}
		}
	})

	lists := []struct {
		name string
		opts func(files []*store.File) store.ListOptions
	}{
		{"ListFiles/first page of 50", func([]*store.File) store.ListOptions {
			return store.ListOptions{Limit: 50}
		}},
		{"ListFiles/page of 50 after a cursor", func(files []*store.File) store.ListOptions {
			mid := files[len(files)/2]
			return store.ListOptions{Limit: 50, After: &store.Cursor{CreatedAt: mid.CreatedAt, ID: mid.ID}}
		}},
		{"ListFiles/page of 50 filtered by name", func([]*store.File) store.ListOptions {
			return store.ListOptions{Limit: 50, NameContains: "FILE 1"}
		}},
	}
	for _, l := range lists {
		b.Run(l.name, func(b *testing.B) {
			s := newStore(b)
			files := seedFiles(b, s, 1000)
			opts := l.opts(files)
			b.ReportAllocs()
			for b.Loop() {
				page, _, err := s.ListFiles(b.Context(), tenantA, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) != 50 {
					b.Fatalf("page of %d files, want 50", len(page))
				}
			}
		})
	}

	b.Run("GetAPIKeyByHash", func(b *testing.B) {
		s := newStore(b)
		var keys []*store.APIKey
		for range 100 {
			k := newAPIKey(tenantA)
			if err := s.CreateAPIKey(b.Context(), k); err != nil {
				b.Fatal(err)
			}
			keys = append(keys, k)
		}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := s.GetAPIKeyByHash(b.Context(), keys[i%len(keys)].Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchFile returns a realistic READY file numbered i.
func benchFile(tenant string, i int) *store.File {
	id := "bench-" + strconv.Itoa(i)
	return &store.File{
		ID:          id,
		Tenant:      tenant,
		Category:    "documents",
		DisplayName: "file " + strconv.Itoa(i),
		Filename:    id + ".pdf",
		Key:         tenant + "/documents/" + id + ".pdf",
		Backend:     "s3-main",
		ContentType: "application/pdf",
		SizeBytes:   int64(1000 + i),
		State:       store.StateReady,
		Owner:       map[string]string{"customer_id": "c-42"},
		Metadata:    map[string]string{"source": "web", "purpose": "benchmark"},
		CreatedAt:   base.Add(time.Duration(i) * time.Millisecond),
		CompletedAt: base.Add(time.Duration(i)*time.Millisecond + time.Second),
	}
}

// seedFiles creates n files of tenantA, and n of tenantB beside them.
func seedFiles(b *testing.B, s store.Store, n int) []*store.File {
	b.Helper()
	files := make([]*store.File, n)
	for i := range n {
		files[i] = benchFile(tenantA, i)
		if err := s.CreateFile(b.Context(), files[i], store.Quota{}); err != nil {
			b.Fatal(err)
		}
		if err := s.CreateFile(b.Context(), benchFile(tenantB, n+i), store.Quota{}); err != nil {
			b.Fatal(err)
		}
	}
	return files
}

// reportCreatesPerCommit reports the mean number of creates that shared a
// COMMIT, for a store that counts them.
func reportCreatesPerCommit(b *testing.B, s store.Store) {
	g, ok := s.(interface{ CreateCommits() (commits, files int64) })
	if !ok {
		return
	}
	if commits, files := g.CreateCommits(); commits > 0 {
		b.ReportMetric(float64(files)/float64(commits), "creates/commit")
	}
}
