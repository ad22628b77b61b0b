package storetest

import (
	"maps"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// multipartFile returns a PENDING multipart upload of tenant whose upload
// expires at expires.
func multipartFile(tenant, uploadID string, expires time.Time) *store.File {
	f := pendingUntil(tenant, expires)
	f.SizeBytes = 100 << 20
	f.MultipartUploadID = uploadID
	f.PartSize = 8 << 20
	f.PartChecksumAlgorithm = "SHA256"
	return f
}

// abort marks the tenant's file id ABORTED as the server does.
func abort(t *testing.T, s store.Store, tenant, id string, at time.Time) *store.File {
	t.Helper()
	f, err := s.UpdateFile(t.Context(), tenant, id, func(f *store.File) error {
		f.State = store.StateAborted
		f.CompletedAt = at
		return nil
	})
	wantErr(t, "UpdateFile to ABORTED", err, nil)
	return f
}

func testMultipart(t *testing.T, newStore func(t *testing.T) store.Store) {
	now := base.Add(time.Hour)

	t.Run("the multipart fields are written by CreateFile and UpdateFile and read by every read", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		f := multipartFile(tenantA, "upload-1", now.Add(24*time.Hour))
		f.RequestID = "req-mp"
		mustCreate(t, s, f)
		want := stored(f)
		checkFile(t, "GetFile", want, mustGet(t, s, tenantA, f.ID))
		byReq, err := s.GetFileByRequestID(ctx, tenantA, "req-mp")
		wantErr(t, "GetFileByRequestID", err, nil)
		checkFile(t, "GetFileByRequestID", want, byReq)
		listed, _, err := s.ListFiles(ctx, tenantA, store.ListOptions{Limit: 10})
		if err != nil || len(listed) != 1 {
			t.Fatalf("ListFiles = %v, %v; want the file", ids(listed), err)
		}
		checkFile(t, "ListFiles", want, listed[0])

		updated, err := s.UpdateFile(ctx, tenantA, f.ID, func(f *store.File) error {
			f.MultipartUploadID, f.PartSize, f.PartChecksumAlgorithm = "upload-2", 5<<20, "CRC32C"
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		want.MultipartUploadID, want.PartSize, want.PartChecksumAlgorithm = "upload-2", 5<<20, "CRC32C"
		want.UpdatedAt = updated.UpdatedAt
		checkFile(t, "UpdateFile's result", want, updated)
		checkFile(t, "GetFile after UpdateFile", want, mustGet(t, s, tenantA, f.ID))

		plain := newFile(tenantA)
		mustCreate(t, s, plain)
		if g := mustGet(t, s, tenantA, plain.ID); g.MultipartUploadID != "" || g.PartSize != 0 || g.PartChecksumAlgorithm != "" {
			t.Fatalf("a single-PUT file reads back with multipart fields %q, %d, %q", g.MultipartUploadID, g.PartSize, g.PartChecksumAlgorithm)
		}
	})

	t.Run("an ABORTED file holds no name, no reservation and no quota, and is listed by its state", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		f := multipartFile(tenantA, "upload-1", now.Add(24*time.Hour))
		f.NameScope, f.DisplayName, f.Scope = "app", "big.iso", "s"
		f.CreatedAt = now
		mustCreate(t, s, f)
		other := multipartFile(tenantA, "upload-2", now.Add(24*time.Hour))
		other.CreatedAt = now
		mustCreate(t, s, other)

		taken := newFile(tenantA)
		taken.NameScope, taken.DisplayName = "app", "big.iso"
		wantErr(t, "CreateFile with a PENDING multipart file's name", s.CreateFile(ctx, taken, store.Quota{}), store.ErrNameTaken)
		u, err := s.Usage(ctx, tenantA, store.UsageFilter{Now: now})
		if err != nil || u.BytesReserved != 200<<20 {
			t.Fatalf("Usage before the abort = %+v, %v; want 200 MiB reserved", u, err)
		}

		got := abort(t, s, tenantA, f.ID, now)
		if got.State != store.StateAborted || !got.CompletedAt.Equal(storedTime(now)) {
			t.Fatalf("aborted file: state %s, completed %s; want ABORTED at %s", got.State, fmtTime(got.CompletedAt), fmtTime(now))
		}
		mustCreate(t, s, taken) // the name is free again
		for _, filter := range []store.UsageFilter{{Now: now}, {}, {Scope: "s"}, {Category: "default"}} {
			u, err := s.Usage(ctx, tenantA, filter)
			wantReserved := int64(100<<20 + taken.SizeBytes)
			if filter.Scope == "s" {
				wantReserved = 0
			}
			if err != nil || u.BytesReserved != wantReserved || u.FileCount != 0 || u.BytesUsed != 0 {
				t.Errorf("Usage(%+v) after the abort = %+v, %v; want %d bytes reserved, nothing used", filter, u, err, wantReserved)
			}
		}
		// The tenant holds 100 MiB + 100 bytes of live uploads: an ABORTED
		// file's 100 MiB would not fit a limit of 200 MiB if it counted.
		fits := newFile(tenantA)
		fits.SizeBytes, fits.CreatedAt = 100<<20-100, now
		wantErr(t, "CreateFile within the quota the abort released",
			s.CreateFile(ctx, fits, store.Quota{MaxBytes: 200 << 20}), nil)
		inScope := newFile(tenantA)
		inScope.Scope, inScope.SizeBytes, inScope.CreatedAt = "s", 100<<20, now
		wantErr(t, "CreateFile within the scope quota the abort released",
			s.CreateFile(ctx, inScope, store.Quota{ScopeMaxBytes: 100 << 20}), nil)

		aborted, more, err := s.ListFiles(ctx, tenantA, store.ListOptions{State: store.StateAborted, Limit: 10})
		if err != nil || more || len(aborted) != 1 || aborted[0].ID != f.ID {
			t.Fatalf("ListFiles(ABORTED) = %v, %v, %v; want only the aborted file", ids(aborted), more, err)
		}
		pending, _, err := s.ListFiles(ctx, tenantA, store.ListOptions{State: store.StatePending, Limit: 10})
		if err != nil || len(pending) != 4 {
			t.Fatalf("ListFiles(PENDING) = %v, %v; want the 4 files not aborted", ids(pending), err)
		}
		for _, p := range pending {
			if p.ID == f.ID {
				t.Fatal("ListFiles(PENDING) lists the ABORTED file")
			}
		}
		// ABORTED is final for ExpireUploads: the file is past its expiry
		// once a day has gone by, and stays ABORTED.
		expired, err := s.ExpireUploads(ctx, []string{f.ID}, now.Add(48*time.Hour), now.Add(48*time.Hour))
		wantErr(t, "ExpireUploads", err, nil)
		for _, e := range expired {
			if e.ID == f.ID {
				t.Fatal("ExpireUploads expired an ABORTED file")
			}
		}
		if g := mustGet(t, s, tenantA, f.ID); g.State != store.StateAborted {
			t.Fatalf("the aborted file is %s after ExpireUploads, want ABORTED", g.State)
		}
	})

	t.Run("ExpireUploads queues each expired upload's deletion with its multipart upload id", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		mp := multipartFile(tenantA, "upload-expired", now.Add(-time.Minute))
		single := pendingUntil(tenantB, now.Add(-time.Minute))
		for _, f := range []*store.File{mp, single} {
			mustCreate(t, s, f)
		}
		got, err := s.ExpireUploads(ctx, []string{mp.ID, single.ID}, now, now)
		if err != nil || len(got) != 2 {
			t.Fatalf("ExpireUploads = %v, %v; want both files", ids(got), err)
		}
		for _, f := range got {
			if f.ID == mp.ID && (f.MultipartUploadID != "upload-expired" || f.PartSize != mp.PartSize) {
				t.Errorf("expired multipart file reads back as upload %q, part size %d", f.MultipartUploadID, f.PartSize)
			}
		}
		ds, err := s.ClaimDeletions(ctx, now, now.Add(time.Minute), 10)
		wantErr(t, "ClaimDeletions", err, nil)
		uploads := map[string]string{}
		for _, d := range ds {
			uploads[d.FileID] = d.MultipartUploadID
		}
		want := map[string]string{mp.ID: "upload-expired", single.ID: ""}
		if !maps.Equal(uploads, want) {
			t.Fatalf("queued deletions' upload ids by file = %v, want %v", uploads, want)
		}
	})

	t.Run("DeleteFileAndQueueObject carries the upload id of a file that is not READY", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		pending := multipartFile(tenantA, "upload-pending", now.Add(time.Hour))
		ready := multipartFile(tenantA, "upload-completed", now.Add(time.Hour))
		ready.State = store.StateReady
		aborted := multipartFile(tenantA, "upload-aborted", now.Add(time.Hour))
		single := newFile(tenantA)
		for _, f := range []*store.File{pending, ready, aborted, single} {
			mustCreate(t, s, f)
		}
		abort(t, s, tenantA, aborted.ID, now)
		for _, tt := range []struct {
			f    *store.File
			want string
		}{
			{pending, "upload-pending"},
			{ready, ""},
			{aborted, "upload-aborted"},
			{single, ""},
		} {
			d, err := s.DeleteFileAndQueueObject(ctx, tenantA, tt.f.ID, now, now)
			wantErr(t, "DeleteFileAndQueueObject", err, nil)
			if d.MultipartUploadID != tt.want || d.Reason != store.DeletionDeleted || d.Key != tt.f.Key {
				t.Errorf("deletion of the %s file with upload %q: %+v; want upload id %q", tt.f.State, tt.f.MultipartUploadID, d, tt.want)
			}
		}
		ds, err := s.ClaimDeletions(ctx, now, now.Add(time.Minute), 10)
		wantErr(t, "ClaimDeletions", err, nil)
		claimed := map[string]string{}
		for _, d := range ds {
			claimed[d.FileID] = d.MultipartUploadID
		}
		want := map[string]string{pending.ID: "upload-pending", ready.ID: "", aborted.ID: "upload-aborted", single.ID: ""}
		if !maps.Equal(claimed, want) {
			t.Fatalf("claimed deletions' upload ids by file = %v, want %v", claimed, want)
		}
	})

	t.Run("AbortUpload marks a PENDING file ABORTED and queues its object with its upload id, once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		f := multipartFile(tenantA, "upload-abort", now.Add(time.Hour))
		f.NameScope, f.DisplayName = "app", "big.iso"
		ready := multipartFile(tenantA, "upload-done", now.Add(time.Hour))
		ready.State = store.StateReady
		for _, g := range []*store.File{f, ready} {
			mustCreate(t, s, g)
		}
		got, err := s.AbortUpload(ctx, tenantA, f.ID, now, now.Add(time.Minute))
		wantErr(t, "AbortUpload", err, nil)
		want := stored(f)
		want.State, want.CompletedAt, want.UpdatedAt = store.StateAborted, storedTime(now), storedTime(now)
		checkFile(t, "AbortUpload's result", want, got)
		checkFile(t, "GetFile after AbortUpload", want, mustGet(t, s, tenantA, f.ID))
		if held, err := s.HoldsMultipartUpload(ctx, f.Backend, "upload-abort"); err != nil || held {
			t.Fatalf("HoldsMultipartUpload after the abort = %v, %v; want false", held, err)
		}
		taken := newFile(tenantA)
		taken.NameScope, taken.DisplayName = "app", "big.iso"
		mustCreate(t, s, taken) // the name is free

		again, err := s.AbortUpload(ctx, tenantA, f.ID, now.Add(time.Hour), now.Add(time.Hour))
		wantErr(t, "AbortUpload again", err, nil)
		checkFile(t, "AbortUpload of an ABORTED file", want, again)
		_, err = s.AbortUpload(ctx, tenantA, ready.ID, now, now)
		wantErr(t, "AbortUpload of a READY file", err, store.ErrConflict)
		if g := mustGet(t, s, tenantA, ready.ID); g.State != store.StateReady {
			t.Fatalf("a refused AbortUpload left the file %s", g.State)
		}
		_, err = s.AbortUpload(ctx, tenantB, f.ID, now, now)
		wantErr(t, "AbortUpload of another tenant's file", err, store.ErrNotFound)
		_, err = s.AbortUpload(ctx, tenantA, "missing", now, now)
		wantErr(t, "AbortUpload of a missing file", err, store.ErrNotFound)

		if ds, _ := s.ClaimDeletions(ctx, now, now.Add(time.Hour), 10); len(ds) != 0 {
			t.Fatalf("a deletion due in a minute was claimed now: %+v", ds[0])
		}
		ds, err := s.ClaimDeletions(ctx, now.Add(2*time.Hour), now.Add(3*time.Hour), 10)
		wantErr(t, "ClaimDeletions", err, nil)
		if len(ds) != 1 {
			t.Fatalf("ClaimDeletions = %d deletions, want the one of the first abort only", len(ds))
		}
		if d := ds[0]; d.FileID != f.ID || d.Key != f.Key || d.Backend != f.Backend || d.Tenant != tenantA ||
			d.Reason != store.DeletionAborted || d.MultipartUploadID != "upload-abort" || !d.CreatedAt.Equal(storedTime(now)) {
			t.Fatalf("queued deletion %+v; want file %s's object, reason aborted, upload upload-abort", d, f.ID)
		}
	})

	t.Run("HoldsMultipartUpload is true only for a PENDING file of that backend with that upload", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		holds := func(backend, uploadID string) bool {
			t.Helper()
			held, err := s.HoldsMultipartUpload(ctx, backend, uploadID)
			wantErr(t, "HoldsMultipartUpload", err, nil)
			return held
		}
		pendingA := multipartFile(tenantA, "up-a", now.Add(time.Hour))
		pendingB := multipartFile(tenantB, "up-b", now.Add(time.Hour))
		pendingB.Backend = "s3-main"
		ready := multipartFile(tenantA, "up-ready", now.Add(time.Hour))
		ready.State = store.StateReady
		failed := multipartFile(tenantA, "up-failed", now.Add(time.Hour))
		failed.State = store.StateFailed
		toAbort := multipartFile(tenantA, "up-aborted", now.Add(time.Hour))
		toExpire := multipartFile(tenantA, "up-expired", now.Add(-time.Minute))
		toDelete := multipartFile(tenantA, "up-deleted", now.Add(time.Hour))
		single := newFile(tenantA)
		for _, f := range []*store.File{pendingA, pendingB, ready, failed, toAbort, toExpire, toDelete, single} {
			mustCreate(t, s, f)
		}
		for _, tt := range []struct {
			backend, uploadID string
			want              bool
		}{
			{"local", "up-a", true},
			{"s3-main", "up-b", true},
			{"local", "up-b", false},   // another backend's upload
			{"s3-main", "up-a", false}, // likewise
			{"local", "UP-A", false},   // ids compare byte for byte
			{"local", "up-ready", false},
			{"local", "up-failed", false},
			{"local", "up-expired", true}, // not expired yet
			{"local", "up-deleted", true},
			{"local", "unknown", false},
			{"local", "", false}, // the single PUT's empty id
		} {
			if got := holds(tt.backend, tt.uploadID); got != tt.want {
				t.Errorf("HoldsMultipartUpload(%q, %q) = %v, want %v", tt.backend, tt.uploadID, got, tt.want)
			}
		}

		abort(t, s, tenantA, toAbort.ID, now)
		if holds("local", "up-aborted") {
			t.Error("an ABORTED file holds its upload")
		}
		expirePast(t, s, now, now)
		if holds("local", "up-expired") {
			t.Error("an EXPIRED file holds its upload")
		}
		if _, err := s.DeleteFileAndQueueObject(ctx, tenantA, toDelete.ID, now, now); err != nil {
			t.Fatal(err)
		}
		if holds("local", "up-deleted") {
			t.Error("a deleted file holds its upload")
		}
		if !holds("local", "up-a") {
			t.Error("a PENDING file stopped holding its upload when others changed")
		}
	})
}
