package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testCreateFile(t *testing.T, newStore func(*testing.T) store.Store) {
	tests := []struct {
		name string
		file func() *store.File
	}{
		{"a file with every field set reads back intact", func() *store.File { return fullFile(tenantA) }},
		{"a file with only the required fields reads back with zero times and nil maps", func() *store.File {
			f := newFile(tenantA)
			f.CreatedAt = base
			f.UpdatedAt = base
			return f
		}},
		{"empty maps read back as nil", func() *store.File {
			f := fullFile(tenantA)
			f.Owner = map[string]string{}
			f.Metadata = map[string]string{}
			return f
		}},
		{"a file of size zero reads back with size zero", func() *store.File {
			f := fullFile(tenantA)
			f.SizeBytes = 0
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			f := tt.file()
			want := stored(f)
			mustCreate(t, s, f)
			checkFile(t, "the file CreateFile wrote back", want, f)
			checkFile(t, "GetFile", want, mustGet(t, s, f.Tenant, f.ID))
			if f.RequestID != "" {
				got, err := s.GetFileByRequestID(t.Context(), f.Tenant, f.RequestID)
				wantErr(t, "GetFileByRequestID", err, nil)
				checkFile(t, "GetFileByRequestID", want, got)
			}
			page, _, err := s.ListFiles(t.Context(), f.Tenant, store.ListOptions{Limit: 10})
			wantErr(t, "ListFiles", err, nil)
			if len(page) != 1 {
				t.Fatalf("ListFiles returned %d files, want 1", len(page))
			}
			checkFile(t, "ListFiles", want, page[0])
		})
	}

	t.Run("CreateFile sets a zero CreatedAt to now and a zero UpdatedAt to CreatedAt", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		before := time.Now().Add(-time.Second)
		mustCreate(t, s, f)
		after := time.Now().Add(time.Second)
		if f.CreatedAt.Before(before) || f.CreatedAt.After(after) {
			t.Errorf("CreatedAt = %s, want the time of the call", fmtTime(f.CreatedAt))
		}
		if !f.UpdatedAt.Equal(f.CreatedAt) {
			t.Errorf("UpdatedAt = %s, want CreatedAt %s", fmtTime(f.UpdatedAt), fmtTime(f.CreatedAt))
		}
		checkFile(t, "GetFile", stored(f), mustGet(t, s, tenantA, f.ID))
	})

	t.Run("GetFile of an unknown ID is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetFile(t.Context(), tenantA, "no-such-file")
		wantErr(t, "GetFile", err, store.ErrNotFound)
	})

	t.Run("GetFileByRequestID of an unknown request ID is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, newFile(tenantA)) // a file without a request ID
		_, err := s.GetFileByRequestID(t.Context(), tenantA, "no-such-request")
		wantErr(t, "GetFileByRequestID", err, store.ErrNotFound)
	})
}

func testUniqueness(t *testing.T, newStore func(*testing.T) store.Store) {
	named := func(f *store.File, scope, name string) {
		f.NameScope, f.DisplayName = scope, name
	}
	tests := []struct {
		name   string
		first  func(*store.File)
		second func(first, second *store.File)
		want   error
	}{
		{
			name:   "a second file with the same ID is ErrAlreadyExists",
			second: func(a, b *store.File) { b.ID = a.ID },
			want:   store.ErrAlreadyExists,
		},
		{
			name:   "a file with another tenant's file ID is ErrAlreadyExists",
			second: func(a, b *store.File) { b.ID, b.Tenant = a.ID, tenantB },
			want:   store.ErrAlreadyExists,
		},
		{
			name:   "a second file with the same request ID in the tenant is ErrAlreadyExists",
			first:  func(a *store.File) { a.RequestID = "req-1" },
			second: func(a, b *store.File) { b.RequestID = "req-1" },
			want:   store.ErrAlreadyExists,
		},
		{
			name:   "the same request ID in another tenant is allowed",
			first:  func(a *store.File) { a.RequestID = "req-1" },
			second: func(a, b *store.File) { b.RequestID, b.Tenant = "req-1", tenantB },
		},
		{
			name:   "files without request IDs never collide",
			second: func(a, b *store.File) {},
		},
		{
			name:   "the same display name in the same scope is ErrNameTaken",
			first:  func(a *store.File) { named(a, "app-1", "report") },
			second: func(a, b *store.File) { named(b, "app-1", "report") },
			want:   store.ErrNameTaken,
		},
		{
			name:   "the same ID with a free display name is ErrAlreadyExists but not ErrNameTaken",
			first:  func(a *store.File) { named(a, "app-1", "report") },
			second: func(a, b *store.File) { named(b, "app-1", "another report"); b.ID = a.ID },
			want:   store.ErrAlreadyExists,
		},
		{
			name:   "the same request ID with a free display name is ErrAlreadyExists but not ErrNameTaken",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.RequestID = "req-1" },
			second: func(a, b *store.File) { named(b, "app-1", "another report"); b.RequestID = "req-1" },
			want:   store.ErrAlreadyExists,
		},
		{
			name:   "the same display name in the same name scope but another Scope is ErrNameTaken",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.Scope = "files/application_id=1" },
			second: func(a, b *store.File) { named(b, "app-1", "report"); b.Scope = "files/application_id=2" },
			want:   store.ErrNameTaken,
		},
		{
			name:   "the same display name in another scope is allowed",
			first:  func(a *store.File) { named(a, "app-1", "report") },
			second: func(a, b *store.File) { named(b, "app-2", "report") },
		},
		{
			name:   "the same display name and scope in another tenant is allowed",
			first:  func(a *store.File) { named(a, "app-1", "report") },
			second: func(a, b *store.File) { named(b, "app-1", "report"); b.Tenant = tenantB },
		},
		{
			name:   "the same display name with an empty scope is allowed",
			first:  func(a *store.File) { named(a, "", "report") },
			second: func(a, b *store.File) { named(b, "", "report") },
		},
		{
			name:   "names that differ only in case are different names",
			first:  func(a *store.File) { named(a, "app-1", "report") },
			second: func(a, b *store.File) { named(b, "app-1", "Report") },
		},
		{
			name:   "a READY file holds its name",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.State = store.StateReady },
			second: func(a, b *store.File) { named(b, "app-1", "report") },
			want:   store.ErrNameTaken,
		},
		{
			name:   "a FAILED file does not hold its name",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.State = store.StateFailed },
			second: func(a, b *store.File) { named(b, "app-1", "report") },
		},
		{
			name:   "an EXPIRED file does not hold its name",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.State = store.StateExpired },
			second: func(a, b *store.File) { named(b, "app-1", "report") },
		},
		{
			name:   "a FAILED file may carry the name a live file holds",
			first:  func(a *store.File) { named(a, "app-1", "report"); a.State = store.StateReady },
			second: func(a, b *store.File) { named(b, "app-1", "report"); b.State = store.StateFailed },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			a, b := newFile(tenantA), newFile(tenantA)
			if tt.first != nil {
				tt.first(a)
			}
			tt.second(a, b)
			mustCreate(t, s, a)
			err := s.CreateFile(t.Context(), b, store.Quota{})
			wantErr(t, "CreateFile of the second file", err, tt.want)
			wantNameTaken(t, "CreateFile of the second file", err, tt.want)
			if tt.want != nil && b.ID != a.ID {
				wantNotFound(t, s, b.Tenant, b.ID)
			}
			// The first file is untouched either way.
			checkFile(t, "the first file", stored(a), mustGet(t, s, a.Tenant, a.ID))
		})
	}
}

func testQuota(t *testing.T, newStore func(*testing.T) store.Store) {
	const (
		app1 = "files/application_id=1"
		app2 = "files/application_id=2"
	)
	// The new file is created at base; existing files' upload targets
	// expire relative to it.
	var (
		expired   = base.Add(-time.Second)
		expiresAt = base
		live      = base.Add(time.Microsecond)
	)
	type existing struct {
		tenant   string
		category string
		scope    string
		state    store.State
		size     int64
		expires  time.Time // UploadExpires; zero: not set
	}
	tests := []struct {
		name     string
		existing []existing
		quota    store.Quota
		scope    string // the new file's Scope
		size     int64
		want     error
	}{
		{
			name:     "a file that fills the quota exactly is accepted",
			existing: []existing{{tenantA, "default", "", store.StatePending, 300, live}, {tenantA, "default", "", store.StateReady, 200, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 500,
		},
		{
			name:     "a file one byte over the quota is ErrQuotaExceeded",
			existing: []existing{{tenantA, "default", "", store.StatePending, 300, live}, {tenantA, "default", "", store.StateReady, 200, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 501,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "PENDING files count against the quota",
			existing: []existing{{tenantA, "default", "", store.StatePending, 1000, live}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "SCANNING files count against the quota and its scope's as READY ones do",
			existing: []existing{{tenantA, "default", app1, store.StateScanning, 1000, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "QUARANTINED files do not count against the quota",
			existing: []existing{{tenantA, "default", "", store.StateQuarantined, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1000,
		},
		{
			name:     "a PENDING file without an upload expiry keeps its reservation",
			existing: []existing{{tenantA, "default", "", store.StatePending, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "a PENDING file whose upload target expired before the new file's CreatedAt no longer counts",
			existing: []existing{{tenantA, "default", "", store.StatePending, 1000, expired}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1000,
		},
		{
			name:     "a PENDING file whose upload target expires at the new file's CreatedAt no longer counts",
			existing: []existing{{tenantA, "default", "", store.StatePending, 1000, expiresAt}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1000,
		},
		{
			name:     "a PENDING file whose upload target expires a microsecond after the new file's CreatedAt still counts",
			existing: []existing{{tenantA, "default", "", store.StatePending, 1000, live}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "READY files count against the quota",
			existing: []existing{{tenantA, "default", "", store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "a READY file counts even when its last upload target has expired",
			existing: []existing{{tenantA, "default", "", store.StateReady, 1000, expired}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "FAILED and EXPIRED files do not count against the quota",
			existing: []existing{{tenantA, "default", "", store.StateFailed, 900, live}, {tenantA, "default", "", store.StateExpired, 900, live}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1000,
		},
		{
			name:     "files of every category count against the tenant's quota",
			existing: []existing{{tenantA, "images", "", store.StateReady, 600, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 500,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "files of every scope count against the tenant's quota",
			existing: []existing{{tenantA, "default", app2, store.StateReady, 600, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000, ScopeMaxBytes: 1000}, scope: app1, size: 500,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "another tenant's files do not count",
			existing: []existing{{tenantB, "default", "", store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 1000,
		},
		{
			name:  "a single file larger than the quota is ErrQuotaExceeded",
			quota: store.Quota{MaxBytes: 10}, size: 11,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "an empty file fits a full quota",
			existing: []existing{{tenantA, "default", "", store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000}, size: 0,
		},
		{
			name:     "a zero quota is unlimited",
			existing: []existing{{tenantA, "default", app1, store.StateReady, 1 << 50, time.Time{}}},
			quota:    store.Quota{}, scope: app1, size: 1 << 50,
		},
		{
			name:     "a file that fills the scope quota exactly is accepted",
			existing: []existing{{tenantA, "default", app1, store.StatePending, 300, live}, {tenantA, "images", app1, store.StateReady, 200, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 500,
		},
		{
			name:     "a file one byte over the scope quota is ErrQuotaExceeded",
			existing: []existing{{tenantA, "default", app1, store.StatePending, 300, live}, {tenantA, "images", app1, store.StateReady, 200, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 501,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "another scope's files do not count against the scope quota",
			existing: []existing{{tenantA, "default", app2, store.StateReady, 1000, time.Time{}}, {tenantA, "default", "", store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 1000,
		},
		{
			name:     "a full scope does not stop a file in another scope",
			existing: []existing{{tenantA, "default", app1, store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{MaxBytes: 3000, ScopeMaxBytes: 1000}, scope: app2, size: 1000,
		},
		{
			name:     "the empty scope is a scope of its own that fills up exactly",
			existing: []existing{{tenantA, "default", "", store.StateReady, 500, time.Time{}}, {tenantA, "default", app1, store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: "", size: 500,
		},
		{
			name:     "the empty scope is a scope of its own that a byte overflows",
			existing: []existing{{tenantA, "default", "", store.StateReady, 500, time.Time{}}, {tenantA, "default", app1, store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: "", size: 501,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "a file within its scope quota but over the tenant quota is ErrQuotaExceeded",
			existing: []existing{{tenantA, "default", app2, store.StateReady, 900, time.Time{}}},
			quota:    store.Quota{MaxBytes: 1000, ScopeMaxBytes: 1000}, scope: app1, size: 101,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "a file within the tenant quota but over its scope quota is ErrQuotaExceeded",
			existing: []existing{{tenantA, "default", app1, store.StateReady, 900, time.Time{}}},
			quota:    store.Quota{MaxBytes: 10_000, ScopeMaxBytes: 1000}, scope: app1, size: 101,
			want: store.ErrQuotaExceeded,
		},
		{
			name:     "another tenant's files in the same scope do not count against the scope quota",
			existing: []existing{{tenantB, "default", app1, store.StateReady, 1000, time.Time{}}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 1000,
		},
		{
			name:     "a PENDING file whose upload target expired no longer counts against the scope quota",
			existing: []existing{{tenantA, "default", app1, store.StatePending, 1000, expired}},
			quota:    store.Quota{MaxBytes: 1000, ScopeMaxBytes: 1000}, scope: app1, size: 1000,
		},
		{
			name:     "a PENDING file whose upload target is live counts against the scope quota",
			existing: []existing{{tenantA, "default", app1, store.StatePending, 1000, live}},
			quota:    store.Quota{ScopeMaxBytes: 1000}, scope: app1, size: 1,
			want: store.ErrQuotaExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for _, e := range tt.existing {
				f := newFile(e.tenant)
				f.Category, f.Scope, f.State, f.SizeBytes = e.category, e.scope, e.state, e.size
				f.CreatedAt, f.UploadExpires = base.Add(-time.Hour), e.expires
				mustCreate(t, s, f)
			}
			f := newFile(tenantA)
			f.Scope, f.SizeBytes = tt.scope, tt.size
			f.CreatedAt, f.UploadExpires = base, base.Add(time.Hour)
			err := s.CreateFile(t.Context(), f, tt.quota)
			wantErr(t, "CreateFile", err, tt.want)
			if tt.want != nil {
				if msg := strings.ToUpper(err.Error()); strings.Contains(msg, "SELECT") || strings.Contains(msg, "FROM FILES") {
					t.Errorf("the quota error shows SQL: %v", err)
				}
				wantNotFound(t, s, tenantA, f.ID)
			} else {
				mustGet(t, s, tenantA, f.ID)
			}
		})
	}
}

func testQuotaAfterChanges(t *testing.T, newStore func(*testing.T) store.Store) {
	tests := []struct {
		name   string
		change func(t *testing.T, s store.Store, held *store.File)
		want   error
	}{
		{"a file marked FAILED gives its bytes back", func(t *testing.T, s store.Store, held *store.File) {
			_, err := s.UpdateFile(t.Context(), tenantA, held.ID, func(f *store.File) error {
				f.State = store.StateFailed
				return nil
			})
			wantErr(t, "UpdateFile", err, nil)
		}, nil},
		{"a deleted file gives its bytes back", func(t *testing.T, s store.Store, held *store.File) {
			wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, held.ID), nil)
		}, nil},
		{"a file completed with a larger measured size counts that size", func(t *testing.T, s store.Store, held *store.File) {
			_, err := s.UpdateFile(t.Context(), tenantA, held.ID, func(f *store.File) error {
				f.State, f.SizeBytes = store.StateReady, 950
				return nil
			})
			wantErr(t, "UpdateFile", err, nil)
		}, store.ErrQuotaExceeded},
		{"a READY file deleted gives its bytes back", func(t *testing.T, s store.Store, held *store.File) {
			markReady(t, s, held, 900)
			wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, held.ID), nil)
		}, nil},
		{"a READY file marked FAILED gives its bytes back", func(t *testing.T, s store.Store, held *store.File) {
			markReady(t, s, held, 900)
			_, err := s.UpdateFile(t.Context(), tenantA, held.ID, func(f *store.File) error {
				f.State = store.StateFailed
				return nil
			})
			wantErr(t, "UpdateFile", err, nil)
		}, nil},
		{"a READY file shrunk counts its new size", func(t *testing.T, s store.Store, held *store.File) {
			markReady(t, s, held, 950)
			markReady(t, s, held, 800)
		}, nil},
		{"a READY file grown counts its new size", func(t *testing.T, s store.Store, held *store.File) {
			markReady(t, s, held, 800)
			markReady(t, s, held, 950)
		}, store.ErrQuotaExceeded},
		{"a READY file of another tenant does not count", func(t *testing.T, s store.Store, held *store.File) {
			wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, held.ID), nil)
			other := newFile(tenantB)
			other.State, other.SizeBytes = store.StateReady, 5000
			mustCreate(t, s, other)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			held := newFile(tenantA)
			held.SizeBytes = 900
			mustCreate(t, s, held)
			tt.change(t, s, held)
			f := newFile(tenantA)
			f.SizeBytes = 100
			wantErr(t, "CreateFile", s.CreateFile(t.Context(), f, store.Quota{MaxBytes: 1000}), tt.want)
		})
	}

	// A scope's READY bytes follow a file that moves to another scope.
	t.Run("a READY file moved to another scope counts there only", func(t *testing.T) {
		s := newStore(t)
		held := newFile(tenantA)
		held.Scope, held.State, held.SizeBytes = "owner.a", store.StateReady, 900
		mustCreate(t, s, held)
		_, err := s.UpdateFile(t.Context(), tenantA, held.ID, func(f *store.File) error {
			f.Scope = "owner.b"
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		for scope, want := range map[string]error{"owner.a": nil, "owner.b": store.ErrQuotaExceeded} {
			f := newFile(tenantA)
			f.Scope, f.SizeBytes = scope, 200
			wantErr(t, "CreateFile in "+scope, s.CreateFile(t.Context(), f, store.Quota{ScopeMaxBytes: 1000}), want)
		}
	})
}

// markReady makes f READY with size bytes, as a completed upload.
func markReady(t *testing.T, s store.Store, f *store.File, size int64) {
	t.Helper()
	_, err := s.UpdateFile(t.Context(), f.Tenant, f.ID, func(g *store.File) error {
		g.State, g.SizeBytes = store.StateReady, size
		return nil
	})
	wantErr(t, "UpdateFile", err, nil)
}

func testTenantIsolation(t *testing.T, newStore func(*testing.T) store.Store) {
	tests := []struct {
		name string
		// try acts as tenant B on tenant A's file a.
		try func(t *testing.T, s store.Store, a *store.File)
	}{
		{"GetFile of another tenant's file is ErrNotFound", func(t *testing.T, s store.Store, a *store.File) {
			_, err := s.GetFile(t.Context(), tenantB, a.ID)
			wantErr(t, "GetFile", err, store.ErrNotFound)
		}},
		{"GetFileByRequestID of another tenant's request is ErrNotFound", func(t *testing.T, s store.Store, a *store.File) {
			_, err := s.GetFileByRequestID(t.Context(), tenantB, a.RequestID)
			wantErr(t, "GetFileByRequestID", err, store.ErrNotFound)
		}},
		{"UpdateFile of another tenant's file is ErrNotFound and never calls the update", func(t *testing.T, s store.Store, a *store.File) {
			_, err := s.UpdateFile(t.Context(), tenantB, a.ID, func(f *store.File) error {
				t.Errorf("update called with tenant A's file %s", f.ID)
				f.DisplayName = "stolen"
				return nil
			})
			wantErr(t, "UpdateFile", err, store.ErrNotFound)
		}},
		{"DeleteFile of another tenant's file is ErrNotFound", func(t *testing.T, s store.Store, a *store.File) {
			err := s.DeleteFile(t.Context(), tenantB, a.ID)
			wantErr(t, "DeleteFile", err, store.ErrNotFound)
		}},
		{"ListFiles never returns another tenant's files", func(t *testing.T, s store.Store, a *store.File) {
			for _, opts := range []store.ListOptions{
				{Limit: 100},
				{Limit: 100, NameContains: a.DisplayName},
				{Limit: 100, Scope: a.Scope, DisplayName: a.DisplayName},
				{Limit: 100, Category: a.Category, State: a.State},
				{Limit: 100, After: &store.Cursor{CreatedAt: a.CreatedAt.Add(time.Hour), ID: "~"}},
			} {
				files, more, err := s.ListFiles(t.Context(), tenantB, opts)
				wantErr(t, "ListFiles", err, nil)
				if len(files) != 0 || more {
					t.Errorf("ListFiles(%+v) = %v, more %v; want nothing", opts, ids(files), more)
				}
			}
		}},
		{"Usage never counts another tenant's files", func(t *testing.T, s store.Store, a *store.File) {
			for _, filter := range []store.UsageFilter{
				{},
				{Category: a.Category},
				{Scope: a.Scope, Now: a.CreatedAt},
			} {
				u, err := s.Usage(t.Context(), tenantB, filter)
				wantErr(t, "Usage", err, nil)
				if u != (store.Usage{}) {
					t.Errorf("Usage(%+v) = %+v, want zero", filter, u)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			a := fullFile(tenantA)
			mustCreate(t, s, a)
			tt.try(t, s, a)
			checkFile(t, "tenant A's file afterwards", stored(a), mustGet(t, s, tenantA, a.ID))
		})
	}
}
