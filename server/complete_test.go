package server

import (
	"context"
	"strings"
	"testing"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

func TestCompletePendingVerifiesLikeCompleteUpload(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	tests := []struct {
		name       string
		send       []byte // nil: upload nothing
		wantState  store.State
		wantBy     string
		wantReason string
	}{
		{"an object that was never uploaded leaves the file PENDING", nil, store.StatePending, "", ""},
		{"the declared bytes make it READY, completed by the sweeper", []byte("hello"), store.StateReady, store.CompletedBySweeper, ""},
		{"fewer bytes than declared make it FAILED", []byte("hell"), store.StateFailed, store.CompletedBySweeper, "4 bytes, 5 were declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "h.txt", ContentType: "text/plain", SizeBytes: 5})
			if err != nil {
				t.Fatal(err)
			}
			if tt.send != nil {
				if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), tt.send); code/100 != 2 {
					t.Fatalf("upload: %d", code)
				}
			}
			f, err := env.store.GetFile(context.Background(), "acme", created.GetFile().GetFileId())
			if err != nil {
				t.Fatal(err)
			}
			got, changed, err := env.server.CompletePending(context.Background(), f, store.CompletedBySweeper)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.wantState != store.StatePending; changed != want {
				t.Fatalf("changed = %v for a file that became %s, want %v", changed, tt.wantState, want)
			}
			stored, err := env.store.GetFile(context.Background(), "acme", f.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []*store.File{got, stored} {
				if g.State != tt.wantState || g.CompletedBy != tt.wantBy || !strings.Contains(g.FailureReason, tt.wantReason) {
					t.Fatalf("state %s by %q reason %q, want %s by %q %q", g.State, g.CompletedBy, g.FailureReason, tt.wantState, tt.wantBy, tt.wantReason)
				}
			}
			_, statErr := env.local.Stat(context.Background(), f.Key)
			if (tt.wantState == store.StateReady) != (statErr == nil) {
				t.Fatalf("object present = %v for state %s", statErr == nil, tt.wantState)
			}
			// Completing again changes nothing, also from the PENDING copy
			// read before the first completion (a replica that lost the
			// race): that caller is told it changed nothing. (From that
			// copy, a FAILED file whose object was deleted looks not
			// arrived yet, and the copy comes back.)
			for name, from := range map[string]*store.File{"the stored file": stored, "the copy read before": f} {
				_, changed, err := env.server.CompletePending(context.Background(), from, store.CompletedByNotification)
				if err != nil || changed {
					t.Fatalf("second completion from %s: changed %v, %v", name, changed, err)
				}
				now, err := env.store.GetFile(context.Background(), "acme", f.ID)
				if err != nil || now.State != stored.State || now.CompletedBy != stored.CompletedBy {
					t.Fatalf("after a second completion from %s: %+v, %v", name, now, err)
				}
			}
		})
	}
}

func TestCompletePendingMultipartWaitsForEveryPart(t *testing.T) {
	env := newTestEnv(t, multipartCategory("big"))
	ctx := env.as("acme")
	body := randomBytes(t, 3*mpPart+100)
	created := env.createMultipart(t, ctx, "big", int64(len(body)), 0)
	file := created.GetFile()
	complete := func() *store.File {
		t.Helper()
		f, err := env.store.GetFile(context.Background(), "acme", file.GetFileId())
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := env.server.CompletePending(context.Background(), f, store.CompletedBySweeper)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	env.signAndPut(t, ctx, file, body, []int32{1, 2, 4})
	if got := complete(); got.State != store.StatePending {
		t.Fatalf("with part 3 missing: %s %q, want PENDING", got.State, got.FailureReason)
	}
	env.signAndPut(t, ctx, file, body, []int32{3})
	got := complete()
	if got.State != store.StateReady || got.CompletedBy != store.CompletedBySweeper || got.SizeBytes != int64(len(body)) {
		t.Fatalf("with every part: %s by %q, %d bytes %q", got.State, got.CompletedBy, got.SizeBytes, got.FailureReason)
	}
	if d := env.downloadFile(t, ctx, file.GetFileId()); string(d) != string(body) {
		t.Fatal("the completed object is not the bytes sent")
	}
}

func TestCompleteUploadRecordsTheClient(t *testing.T) {
	env := newTestEnv(t)
	f := env.createReady(t, "acme", "a.txt", []byte("hello"))
	if f.GetCompletedBy() != store.CompletedByClient {
		t.Fatalf("completed_by %q, want %q", f.GetCompletedBy(), store.CompletedByClient)
	}
}

func TestCompleteOnUploadCompletesAsTheBytesLand(t *testing.T) {
	instant := policy.Default("local")
	instant.Name, instant.CompleteOnUpload = "instant", true
	env := newTestEnv(t, instant)
	if env.server.UploadCommitted("elsewhere") != nil {
		t.Fatal("a backend no category completes on upload got a hook")
	}
	env.local.OnCommit(env.server.UploadCommitted("local"))
	ctx := env.as("acme")
	tests := []struct {
		name      string
		category  string
		method    presigndv1.UploadMethod
		send      []byte
		wantState store.State
		wantBy    string
	}{
		{"a PUT in a complete_on_upload category is READY when the PUT answers", "instant", presigndv1.UploadMethod_UPLOAD_METHOD_PUT, []byte("hello"), store.StateReady, store.CompletedByUpload},
		{"a POST too", "instant", presigndv1.UploadMethod_UPLOAD_METHOD_POST, []byte("hello"), store.StateReady, store.CompletedByUpload},
		{"bytes that fail verification make it FAILED", "instant", presigndv1.UploadMethod_UPLOAD_METHOD_PUT, []byte("hell"), store.StateFailed, store.CompletedByUpload},
		{"another category waits for CompleteUpload", "", presigndv1.UploadMethod_UPLOAD_METHOD_PUT, []byte("hello"), store.StatePending, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: tt.category, Method: tt.method, Filename: "i.txt", ContentType: "text/plain", SizeBytes: 5})
			if err != nil {
				t.Fatal(err)
			}
			if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), tt.send); code/100 != 2 {
				t.Fatalf("upload: %d", code)
			}
			got, err := env.store.GetFile(context.Background(), "acme", created.GetFile().GetFileId())
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState || got.CompletedBy != tt.wantBy {
				t.Fatalf("after the upload: %s by %q (%s), want %s by %q", got.State, got.CompletedBy, got.FailureReason, tt.wantState, tt.wantBy)
			}
		})
	}
}
