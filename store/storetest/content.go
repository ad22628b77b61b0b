package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testDownloadURLs(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("a download URL is counted and moves the last URL time forward only", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		f.State, f.CompletedAt, f.LastURLAt = store.StateReady, base, base
		mustCreate(t, s, f)
		before := mustGet(t, s, tenantA, f.ID)
		wantErr(t, "RecordDownloadURL", s.RecordDownloadURL(t.Context(), tenantA, f.ID, base.Add(time.Hour)), nil)
		wantErr(t, "RecordDownloadURL earlier", s.RecordDownloadURL(t.Context(), tenantA, f.ID, base.Add(30*time.Minute)), nil)
		got := mustGet(t, s, tenantA, f.ID)
		want := *before
		want.DownloadURLCount = 2
		want.LastURLAt = storedTime(base.Add(time.Hour))
		if d := diffFile(&want, got); d != nil {
			t.Errorf("after two download URLs: %v", d)
		}
	})

	t.Run("a file with no URL yet gets its first URL time", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		wantErr(t, "RecordDownloadURL", s.RecordDownloadURL(t.Context(), tenantA, f.ID, base), nil)
		if got := mustGet(t, s, tenantA, f.ID); got.DownloadURLCount != 1 || !got.LastURLAt.Equal(storedTime(base)) {
			t.Errorf("count %d, last URL at %s; want 1, %s", got.DownloadURLCount, fmtTime(got.LastURLAt), fmtTime(storedTime(base)))
		}
	})

	t.Run("another tenant's file is not found and not counted", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		wantErr(t, "RecordDownloadURL of another tenant", s.RecordDownloadURL(t.Context(), tenantB, f.ID, base), store.ErrNotFound)
		wantErr(t, "RecordDownloadURL of a missing file", s.RecordDownloadURL(t.Context(), tenantA, "no-such-file", base), store.ErrNotFound)
		if got := mustGet(t, s, tenantA, f.ID); got.DownloadURLCount != 0 || !got.LastURLAt.IsZero() {
			t.Errorf("count %d, last URL at %s; want 0, zero", got.DownloadURLCount, fmtTime(got.LastURLAt))
		}
	})

	t.Run("UpdateFile keeps the count whatever the update does", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		wantErr(t, "RecordDownloadURL", s.RecordDownloadURL(t.Context(), tenantA, f.ID, base), nil)
		updated, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.DownloadURLCount = 99
			f.DisplayName = "renamed"
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		if updated.DownloadURLCount != 1 {
			t.Errorf("UpdateFile returned count %d, want 1", updated.DownloadURLCount)
		}
		if got := mustGet(t, s, tenantA, f.ID); got.DownloadURLCount != 1 || got.DisplayName != "renamed" {
			t.Errorf("read back count %d, name %q; want 1, renamed", got.DownloadURLCount, got.DisplayName)
		}
	})

	t.Run("concurrent download URLs are all counted", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.RecordDownloadURL(t.Context(), tenantA, f.ID, base.Add(time.Duration(i)*time.Second))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, tenantA, f.ID)
		if got.DownloadURLCount != n || !got.LastURLAt.Equal(storedTime(base.Add((n-1)*time.Second))) {
			t.Errorf("count %d, last URL at %s; want %d, the latest", got.DownloadURLCount, fmtTime(got.LastURLAt), n)
		}
	})
}

func testFindByContent(t *testing.T, newStore func(*testing.T) store.Store) {
	const (
		scope = "files/application_id=42"
		sum   = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
	)
	ready := func(tenant string, completed time.Time, change func(*store.File)) *store.File {
		f := newFile(tenant)
		f.Scope, f.ChecksumAlgorithm, f.ChecksumValue = scope, "SHA256", sum
		f.State, f.CompletedAt = store.StateReady, completed
		if change != nil {
			change(f)
		}
		return f
	}
	query := store.ContentQuery{Scope: scope, ChecksumAlgorithm: "SHA256", ChecksumValue: sum, SizeBytes: 100}
	s := newStore(t)
	older := ready(tenantA, base, nil)
	newer := ready(tenantA, base.Add(time.Minute), nil)
	for _, f := range []*store.File{
		older, newer,
		ready(tenantB, base.Add(time.Hour), nil),
		ready(tenantA, base.Add(time.Hour), func(f *store.File) { f.State, f.CompletedAt = store.StatePending, time.Time{} }),
		ready(tenantA, base.Add(time.Hour), func(f *store.File) { f.State = store.StateFailed }),
		ready(tenantA, base.Add(time.Hour), func(f *store.File) { f.Scope = "files/application_id=43" }),
		ready(tenantA, base.Add(time.Hour), func(f *store.File) { f.SizeBytes = 101 }),
		ready(tenantA, base.Add(time.Hour), func(f *store.File) { f.ChecksumAlgorithm = "MD5" }),
	} {
		mustCreate(t, s, f)
	}
	tests := []struct {
		name   string
		tenant string
		q      store.ContentQuery
		want   *store.File // nil: ErrNotFound
	}{
		{"the newest READY file of the scope with that checksum and size is found", tenantA, query, newer},
		{"a tenant with no such file finds nothing, whatever other tenants hold", "tenant-c", query, nil},
		{"another scope finds nothing", tenantA, store.ContentQuery{Scope: "files/application_id=44", ChecksumAlgorithm: "SHA256", ChecksumValue: sum, SizeBytes: 100}, nil},
		{"another size finds nothing READY", tenantA, store.ContentQuery{Scope: scope, ChecksumAlgorithm: "SHA256", ChecksumValue: sum, SizeBytes: 99}, nil},
		{"an empty checksum finds nothing", tenantA, store.ContentQuery{Scope: scope, ChecksumAlgorithm: "SHA256", SizeBytes: 100}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FindByContent(t.Context(), tt.tenant, tt.q)
			if tt.want == nil {
				wantErr(t, "FindByContent", err, store.ErrNotFound)
				return
			}
			wantErr(t, "FindByContent", err, nil)
			if got.ID != tt.want.ID {
				t.Errorf("found %s, want %s", got.ID, tt.want.ID)
			}
		})
	}
	t.Run("a tenant finds its own file, never another tenant's", func(t *testing.T) {
		got, err := s.FindByContent(t.Context(), tenantB, query)
		wantErr(t, "FindByContent", err, nil)
		if got.Tenant != tenantB {
			t.Errorf("tenant %s found a file of %s", tenantB, got.Tenant)
		}
	})
}

func testRetainedFiles(t *testing.T, newStore func(*testing.T) store.Store) {
	s := newStore(t)
	readyAt := func(tenant, category string, completed time.Time, state store.State) *store.File {
		f := newFile(tenant)
		f.Category, f.State, f.CompletedAt = category, state, completed
		mustCreate(t, s, f)
		return f
	}
	first := readyAt(tenantB, "docs", base, store.StateReady)
	second := readyAt(tenantA, "docs", base.Add(time.Minute), store.StateReady)
	readyAt(tenantA, "docs", base.Add(time.Hour), store.StateReady)   // too recent
	readyAt(tenantA, "docs", base.Add(-time.Hour), store.StateFailed) // not READY
	readyAt(tenantA, "other", base.Add(-time.Hour), store.StateReady) // another category
	readyAt(tenantA, "docs", time.Time{}, store.StatePending)         // not completed
	cutoff := base.Add(30 * time.Minute)
	tests := []struct {
		name  string
		limit int
		want  []*store.File
	}{
		{"READY files of the category completed before the cutoff come oldest first, of every tenant", 10, []*store.File{first, second}},
		{"the limit caps the batch", 1, []*store.File{first}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RetainedFiles(t.Context(), "docs", cutoff, tt.limit)
			wantErr(t, "RetainedFiles", err, nil)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d files, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID {
					t.Errorf("file %d is %s, want %s", i, got[i].ID, tt.want[i].ID)
				}
			}
		})
	}
	t.Run("a non-positive limit is an error", func(t *testing.T) {
		if _, err := s.RetainedFiles(t.Context(), "docs", cutoff, 0); err == nil {
			t.Error("RetainedFiles with limit 0 succeeded")
		}
	})
}
