package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// CheckUpgraded checks a store a driver opened on a database it first
// migrated to an older schema version only and then wrote, with plain SQL
// in that version's columns, one file: ID old-1 of tenant t, READY, 7
// bytes, display name "report" in name scope app-1, request ID req-old,
// created at created. The file must read back in the empty Scope, with
// no multipart upload and no CompletedBy, keep
// its name and request ID, and the store must enforce scope quotas and
// filter by display name and scope as on a new database.
func CheckUpgraded(t *testing.T, s store.Store, created time.Time) {
	t.Helper()
	ctx := t.Context()
	f, err := s.GetFile(ctx, "t", "old-1")
	if err != nil {
		t.Fatalf("GetFile of the file written before the upgrade: %v", err)
	}
	if f.Scope != "" || f.DisplayName != "report" || f.SizeBytes != 7 || !f.CreatedAt.Equal(created) ||
		f.MultipartUploadID != "" || f.PartSize != 0 || f.PartChecksumAlgorithm != "" || f.CompletedBy != "" {
		t.Fatalf("the file written before the upgrade reads back as %+v", f)
	}
	taken := &store.File{ID: "new-1", Tenant: "t", NameScope: "app-1", DisplayName: "report", State: store.StatePending}
	if err := s.CreateFile(ctx, taken, store.Quota{}); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("CreateFile with the old file's name: %v, want ErrNameTaken", err)
	}
	dup := &store.File{ID: "new-2", Tenant: "t", RequestID: "req-old", State: store.StatePending}
	if err := s.CreateFile(ctx, dup, store.Quota{}); !errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("CreateFile with the old file's request ID: %v, want plain ErrAlreadyExists", err)
	}
	over := &store.File{ID: "new-3", Tenant: "t", SizeBytes: 10, State: store.StatePending}
	if err := s.CreateFile(ctx, over, store.Quota{ScopeMaxBytes: 16}); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("CreateFile over the empty scope's quota: %v, want ErrQuotaExceeded", err)
	}
	fits := &store.File{ID: "new-4", Tenant: "t", Scope: "app-1", SizeBytes: 10, State: store.StatePending}
	if err := s.CreateFile(ctx, fits, store.Quota{ScopeMaxBytes: 16}); err != nil {
		t.Fatalf("CreateFile in a new scope: %v", err)
	}
	// The tenant holds 7 READY bytes from before the upgrade and 10
	// reserved since: 3 more would fit a limit of 20, 4 do not.
	tenantOver := &store.File{ID: "new-5", Tenant: "t", SizeBytes: 4, State: store.StatePending}
	if err := s.CreateFile(ctx, tenantOver, store.Quota{MaxBytes: 20}); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("CreateFile over the tenant quota: %v, want ErrQuotaExceeded", err)
	}
	files, _, err := s.ListFiles(ctx, "t", store.ListOptions{DisplayName: "report", Limit: 10})
	if err != nil || len(files) != 1 || files[0].ID != "old-1" {
		t.Fatalf("ListFiles by display name = %v, %v; want the old file", files, err)
	}
	u, err := s.Usage(ctx, "t", store.UsageFilter{Scope: "app-1"})
	if err != nil || u.BytesReserved != 10 || u.FileCount != 0 {
		t.Fatalf("Usage of the new scope = %+v, %v; want 10 bytes reserved", u, err)
	}
}
