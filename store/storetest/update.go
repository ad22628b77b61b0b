package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

var errRefused = errors.New("storetest: update refused")

func testUpdateFile(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("changed fields are written and read back", func(t *testing.T) {
		s := newStore(t)
		f := fullFile(tenantA)
		f.State = store.StatePending
		f.CompletedAt = time.Time{}
		mustCreate(t, s, f)
		completed := base.Add(time.Hour + 999)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.DisplayName = "Renamed report"
			u.NameScope = "application-2"
			u.Scope = "files/application_id=43"
			u.State = store.StateReady
			u.SizeBytes = 4242
			u.SizeUnknown = false
			u.ETag = `"etag-2"`
			u.UploadCount++
			u.CompletedAt = completed
			u.UploadExpires = time.Time{}
			u.Metadata = map[string]string{"replaced": "yes"}
			u.Owner = nil
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		want := stored(f)
		want.DisplayName, want.NameScope, want.State = "Renamed report", "application-2", store.StateReady
		want.Scope = "files/application_id=43"
		want.SizeBytes, want.ETag, want.UploadCount = 4242, `"etag-2"`, f.UploadCount+1
		want.SizeUnknown = false
		want.CompletedAt, want.UploadExpires = storedTime(completed), time.Time{}
		want.Metadata, want.Owner = map[string]string{"replaced": "yes"}, nil
		want.UpdatedAt = got.UpdatedAt // checked in its own test
		checkFile(t, "UpdateFile's result", want, got)
		checkFile(t, "GetFile after UpdateFile", want, mustGet(t, s, tenantA, f.ID))
	})

	t.Run("the update function sees the stored record", func(t *testing.T) {
		s := newStore(t)
		f := fullFile(tenantA)
		mustCreate(t, s, f)
		_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			checkFile(t, "the file passed to update", stored(f), u)
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
	})

	t.Run("UpdatedAt is set by the store whatever the update function sets", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		f.CreatedAt = time.Now().Add(-time.Hour)
		mustCreate(t, s, f)
		before := time.Now().Truncate(time.Microsecond)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.UpdatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			return nil
		})
		after := time.Now()
		wantErr(t, "UpdateFile", err, nil)
		if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) {
			t.Errorf("UpdatedAt = %s, want between %s and %s", fmtTime(got.UpdatedAt), fmtTime(before), fmtTime(after))
		}
		checkFile(t, "GetFile after UpdateFile", got, mustGet(t, s, tenantA, f.ID))
	})

	t.Run("ID, Tenant and CreatedAt keep their stored values", func(t *testing.T) {
		s := newStore(t)
		f := fullFile(tenantA)
		mustCreate(t, s, f)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.ID, u.Tenant, u.CreatedAt = "another-id", tenantB, base.Add(time.Hour)
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		if got.ID != f.ID || got.Tenant != tenantA || !got.CreatedAt.Equal(f.CreatedAt) {
			t.Errorf("UpdateFile returned ID %q, tenant %q, CreatedAt %s; want %q, %q, %s",
				got.ID, got.Tenant, fmtTime(got.CreatedAt), f.ID, tenantA, fmtTime(f.CreatedAt))
		}
		mustGet(t, s, tenantA, f.ID)
		wantNotFound(t, s, tenantB, "another-id")
		wantNotFound(t, s, tenantA, "another-id")
	})

	refusals := []struct {
		name string
		err  error
	}{
		{"an error from the update function is returned as is and nothing is written", errRefused},
		{"a wrapped ErrConflict from the update function is returned as is", fmt.Errorf("complete: state READY: %w", store.ErrConflict)},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			f := fullFile(tenantA)
			mustCreate(t, s, f)
			_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
				u.DisplayName = "half-written"
				u.SizeBytes = 1
				return tt.err
			})
			if !errors.Is(err, tt.err) {
				t.Fatalf("UpdateFile error %v, want %v", err, tt.err)
			}
			checkFile(t, "GetFile after a refused update", stored(f), mustGet(t, s, tenantA, f.ID))
		})
	}

	t.Run("updating an unknown file is ErrNotFound and never calls the update", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UpdateFile(t.Context(), tenantA, "no-such-file", func(*store.File) error {
			t.Error("update called for a missing file")
			return nil
		})
		wantErr(t, "UpdateFile", err, store.ErrNotFound)
	})

	renames := []struct {
		name       string
		otherState store.State // state of the file already holding "taken"
		want       error
	}{
		{"a rename onto a name a PENDING file holds in the scope is ErrNameTaken", store.StatePending, store.ErrNameTaken},
		{"a rename onto a name a READY file holds in the scope is ErrNameTaken", store.StateReady, store.ErrNameTaken},
		{"a rename onto the name of a FAILED file succeeds", store.StateFailed, nil},
		{"a rename onto the name of an EXPIRED file succeeds", store.StateExpired, nil},
	}
	for _, tt := range renames {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			other := newFile(tenantA)
			other.NameScope, other.DisplayName, other.State = "app-1", "taken", tt.otherState
			mustCreate(t, s, other)
			f := newFile(tenantA)
			f.NameScope, f.DisplayName = "app-1", "mine"
			mustCreate(t, s, f)
			_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
				u.DisplayName = "taken"
				return nil
			})
			wantErr(t, "UpdateFile", err, tt.want)
			wantNameTaken(t, "UpdateFile", err, tt.want)
			wantName := "taken"
			if tt.want != nil {
				wantName = "mine"
			}
			if got := mustGet(t, s, tenantA, f.ID); got.DisplayName != wantName {
				t.Errorf("DisplayName after the rename = %q, want %q", got.DisplayName, wantName)
			}
		})
	}

	t.Run("an update onto another file's request ID is ErrAlreadyExists but not ErrNameTaken", func(t *testing.T) {
		s := newStore(t)
		other := newFile(tenantA)
		other.RequestID = "req-1"
		mustCreate(t, s, other)
		f := newFile(tenantA)
		f.NameScope, f.DisplayName = "app-1", "mine"
		mustCreate(t, s, f)
		_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.RequestID = "req-1"
			return nil
		})
		wantErr(t, "UpdateFile", err, store.ErrAlreadyExists)
		wantNameTaken(t, "UpdateFile", err, store.ErrAlreadyExists)
	})

	t.Run("a rename to the file's own name succeeds", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		f.NameScope, f.DisplayName = "app-1", "mine"
		mustCreate(t, s, f)
		_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.DisplayName = "mine"
			u.State = store.StateReady
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
	})

	t.Run("a FAILED file frees its name and cannot take it back once another file holds it", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		f.NameScope, f.DisplayName = "app-1", "report"
		mustCreate(t, s, f)
		_, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.State = store.StateFailed
			return nil
		})
		wantErr(t, "UpdateFile to FAILED", err, nil)
		g := newFile(tenantA)
		g.NameScope, g.DisplayName = "app-1", "report"
		mustCreate(t, s, g)
		_, err = s.UpdateFile(t.Context(), tenantA, f.ID, func(u *store.File) error {
			u.State = store.StatePending
			return nil
		})
		wantErr(t, "UpdateFile back to PENDING", err, store.ErrNameTaken)
		if got := mustGet(t, s, tenantA, f.ID); got.State != store.StateFailed {
			t.Errorf("state after the refused update = %s, want FAILED", got.State)
		}
	})
}

func testDeleteFile(t *testing.T, newStore func(*testing.T) store.Store) {
	t.Run("a deleted file is gone", func(t *testing.T) {
		s := newStore(t)
		f := fullFile(tenantA)
		mustCreate(t, s, f)
		other := newFile(tenantA)
		mustCreate(t, s, other)
		wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, f.ID), nil)
		wantNotFound(t, s, tenantA, f.ID)
		_, err := s.GetFileByRequestID(t.Context(), tenantA, f.RequestID)
		wantErr(t, "GetFileByRequestID", err, store.ErrNotFound)
		files, _, err := s.ListFiles(t.Context(), tenantA, store.ListOptions{Limit: 10})
		wantErr(t, "ListFiles", err, nil)
		if len(files) != 1 || files[0].ID != other.ID {
			t.Errorf("ListFiles after the delete = %v, want only %s", ids(files), other.ID)
		}
	})

	t.Run("deleting an unknown file is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, "no-such-file"), store.ErrNotFound)
	})

	t.Run("deleting a file twice is ErrNotFound the second time", func(t *testing.T) {
		s := newStore(t)
		f := newFile(tenantA)
		mustCreate(t, s, f)
		wantErr(t, "first DeleteFile", s.DeleteFile(t.Context(), tenantA, f.ID), nil)
		wantErr(t, "second DeleteFile", s.DeleteFile(t.Context(), tenantA, f.ID), store.ErrNotFound)
	})

	t.Run("a deleted file frees its ID, request ID and name", func(t *testing.T) {
		s := newStore(t)
		f := fullFile(tenantA)
		mustCreate(t, s, f)
		wantErr(t, "DeleteFile", s.DeleteFile(t.Context(), tenantA, f.ID), nil)
		again := fullFile(tenantA)
		again.ID, again.RequestID = f.ID, f.RequestID
		mustCreate(t, s, again)
	})
}
