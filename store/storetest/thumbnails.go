package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

func testThumbnails(t *testing.T, newStore func(t *testing.T) store.Store) {
	now := base
	thumbs := func(f *store.File) []store.Thumbnail {
		return []store.Thumbnail{
			{Name: "small", Key: f.Key + "~thumbs/small.jpg", ContentType: "image/jpeg", Width: 128, Height: 96, SizeBytes: 4321},
			{Name: "large", Key: f.Key + "~thumbs/large.jpg", ContentType: "image/jpeg", Width: 1024, Height: 768, SizeBytes: 98765},
		}
	}

	t.Run("a READY file's thumbnails are recorded, read back in order, and left alone by UpdateFile", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		f := fullFile(tenantA)
		mustCreate(t, s, f)
		if got, err := s.GetFile(ctx, tenantA, f.ID); err != nil || got.Thumbnails != nil {
			t.Fatalf("a new file has thumbnails %v (%v)", got.Thumbnails, err)
		}
		before, err := s.GetFile(ctx, tenantA, f.ID)
		wantErr(t, "GetFile", err, nil)
		wantErr(t, "SetThumbnails", s.SetThumbnails(ctx, tenantA, f.ID, thumbs(f)), nil)
		got, err := s.GetFile(ctx, tenantA, f.ID)
		wantErr(t, "GetFile", err, nil)
		if !slices.Equal(got.Thumbnails, thumbs(f)) {
			t.Fatalf("thumbnails = %+v, want %+v", got.Thumbnails, thumbs(f))
		}
		if !got.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("SetThumbnails moved UpdatedAt from %s to %s", before.UpdatedAt, got.UpdatedAt)
		}
		updated, err := s.UpdateFile(ctx, tenantA, f.ID, func(f *store.File) error {
			f.DisplayName = "renamed"
			f.Thumbnails = nil
			return nil
		})
		wantErr(t, "UpdateFile", err, nil)
		if !slices.Equal(updated.Thumbnails, thumbs(f)) {
			t.Errorf("UpdateFile returned thumbnails %+v, want them kept", updated.Thumbnails)
		}
		if got, _ := s.GetFile(ctx, tenantA, f.ID); got == nil || !slices.Equal(got.Thumbnails, thumbs(f)) {
			t.Errorf("UpdateFile cleared the thumbnails")
		}
		if list, _, err := s.ListFiles(ctx, tenantA, store.ListOptions{Limit: 10}); err != nil || len(list) != 1 || !slices.Equal(list[0].Thumbnails, thumbs(f)) {
			t.Errorf("ListFiles = %v, %v; want the file with its thumbnails", list, err)
		}
		wantErr(t, "SetThumbnails with none", s.SetThumbnails(ctx, tenantA, f.ID, nil), nil)
		if got, _ := s.GetFile(ctx, tenantA, f.ID); got == nil || got.Thumbnails != nil {
			t.Errorf("thumbnails after SetThumbnails(nil) = %v", got.Thumbnails)
		}
	})

	t.Run("another tenant's, a missing and a file that is not READY get no thumbnails", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		ready := fullFile(tenantA)
		mustCreate(t, s, ready)
		pending := newFile(tenantA)
		mustCreate(t, s, pending)
		wantErr(t, "SetThumbnails of another tenant's file", s.SetThumbnails(ctx, tenantB, ready.ID, thumbs(ready)), store.ErrNotFound)
		wantErr(t, "SetThumbnails of a missing file", s.SetThumbnails(ctx, tenantA, "missing", thumbs(ready)), store.ErrNotFound)
		wantErr(t, "SetThumbnails of a PENDING file", s.SetThumbnails(ctx, tenantA, pending.ID, thumbs(pending)), store.ErrConflict)
		for _, id := range []string{ready.ID, pending.ID} {
			if got, err := s.GetFile(ctx, tenantA, id); err != nil || got.Thumbnails != nil {
				t.Errorf("file %s has thumbnails %v (%v)", id, got.Thumbnails, err)
			}
		}
	})

	t.Run("deleting a file queues its thumbnails' objects with its own", func(t *testing.T) {
		s := newStore(t)
		lc := lifecycle(t, s)
		ctx := t.Context()
		f := fullFile(tenantA)
		f.Backend = "local"
		mustCreate(t, s, f)
		plain := fullFile(tenantA)
		plain.Backend = "local"
		plain.RequestID, plain.DisplayName = "", "other"
		mustCreate(t, s, plain)
		wantErr(t, "SetThumbnails", s.SetThumbnails(ctx, tenantA, f.ID, thumbs(f)), nil)
		d, err := lc.DeleteFileAndQueueObject(ctx, tenantA, f.ID, now, now)
		wantErr(t, "DeleteFileAndQueueObject", err, nil)
		if d.Key != f.Key {
			t.Errorf("DeleteFileAndQueueObject returned the deletion of %q, want the file's object %q", d.Key, f.Key)
		}
		_, err = lc.DeleteFileAndQueueObject(ctx, tenantA, plain.ID, now, now)
		wantErr(t, "DeleteFileAndQueueObject without thumbnails", err, nil)
		ds, err := lc.ClaimDeletions(ctx, now.Add(time.Second), now.Add(time.Minute), 10)
		wantErr(t, "ClaimDeletions", err, nil)
		var keys []string
		for _, d := range ds {
			if d.Backend != "local" || d.Tenant != tenantA || d.Reason != store.DeletionDeleted || d.MultipartUploadID != "" {
				t.Errorf("deletion %+v", d)
			}
			keys = append(keys, d.Key)
		}
		slices.Sort(keys)
		want := []string{f.Key, plain.Key, f.Key + "~thumbs/large.jpg", f.Key + "~thumbs/small.jpg"}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("queued deletions = %q, want %q", keys, want)
		}
	})
}
