package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/s3"
	"github.com/presignd/presignd/store"
)

// TestUploadTargetDoesNotOutliveItsFile: after DeleteFile, or after
// CompleteUpload failed the file, the same upload target stores nothing
// (the local backend answers 410), the download URL issued before answers
// 410, usage stays true, and the key is recorded for the sweeper.
func TestUploadTargetDoesNotOutliveItsFile(t *testing.T) {
	body := []byte("the declared bytes")
	for _, tc := range []struct {
		name  string
		first []byte // what the first upload sends
		end   func(t *testing.T, env *testEnv, ctx context.Context, id string)
	}{
		{"deleted after it was READY", body, func(t *testing.T, env *testEnv, ctx context.Context, id string) {
			if _, err := env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: id}); err != nil {
				t.Fatal(err)
			}
		}},
		{"FAILED by a short upload", body[:4], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			ctx := env.as("acme")
			created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
			if err != nil {
				t.Fatal(err)
			}
			id := created.GetFile().GetFileId()
			target := targetOf(t, created.GetUploadTarget())
			if code := sendUpload(t, target, tc.first); code/100 != 2 {
				t.Fatalf("first upload: %d", code)
			}
			done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
			if err != nil {
				t.Fatal(err)
			}
			download := ""
			if done.GetFile().GetState() == presigndv1.FileState_FILE_STATE_READY {
				d, err := env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
				if err != nil {
					t.Fatal(err)
				}
				download = d.GetUrl()
			}
			if tc.end != nil {
				tc.end(t, env, ctx, id)
			} else if done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED {
				t.Fatalf("short upload completed as %v, want FAILED", done.GetFile().GetState())
			}

			if code := sendUpload(t, target, body); code != http.StatusGone {
				t.Errorf("the same upload target again: %d, want 410", code)
			}
			if _, err := env.local.Stat(context.Background(), created.GetFile().GetKey()); err == nil {
				t.Error("the upload target stored bytes again")
			}
			if download != "" {
				resp, err := http.Get(download)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusGone {
					t.Errorf("download URL issued before the delete: %d, want 410", resp.StatusCode)
				}
			}
			u, err := env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{})
			if err != nil || u.GetBytesUsed() != 0 || u.GetFileCount() != 0 {
				t.Errorf("usage %v, %v; want 0 files, 0 bytes", u, err)
			}
			ws, err := env.store.(store.KeyWatch).ClaimWatchedKeys(context.Background(), time.Now().Add(time.Minute), time.Now().Add(time.Hour), 10)
			if err != nil || len(ws) != 1 || ws[0].FileID != id || ws[0].Key != created.GetFile().GetKey() || ws[0].FileLive {
				t.Errorf("watched keys %+v, %v; want the file's key, its file no longer live", ws, err)
			}
		})
	}
}

// TestCompleteUploadBeforeTheBytesArrived: a CompleteUpload that finds no
// object while the target is valid answers FailedPrecondition (409 over
// REST) and leaves the file PENDING, so the upload can still finish.
// Once the target has expired, no object means FAILED.
func TestCompleteUploadBeforeTheBytesArrived(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	body := []byte("late bytes")
	create := func() *presigndv1.CreateUploadResponse {
		created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	created := create()
	id := created.GetFile().GetFileId()
	_, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
	wantCode(t, err, codes.FailedPrecondition)
	if st := status.Convert(err); !strings.Contains(st.Message(), "no object has been uploaded") || len(st.Details()) != 1 {
		t.Errorf("status %v with details %v, want a message and a PreconditionFailure", st.Message(), st.Details())
	} else if pf, ok := st.Details()[0].(*errdetails.PreconditionFailure); !ok || pf.GetViolations()[0].GetType() != "UPLOAD_NOT_RECEIVED" {
		t.Errorf("detail %v, want a PreconditionFailure of type UPLOAD_NOT_RECEIVED", st.Details()[0])
	}
	code, rest := restCall(t, env, http.MethodPost, "/v1/files/"+id+":complete", "{}", map[string]string{"x-api-key": env.keys["acme"]})
	if code != http.StatusConflict || !strings.Contains(rest, "no object has been uploaded") {
		t.Errorf("REST complete before the bytes: %d %s, want 409", code, rest)
	}
	if f, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: id}); err != nil || f.GetFile().GetState() != presigndv1.FileState_FILE_STATE_PENDING {
		t.Fatalf("file after an early complete: %v, %v; want PENDING", f.GetFile().GetState(), err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code != http.StatusOK {
		t.Fatalf("upload after the early complete: %d", code)
	}
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("complete after the bytes arrived: %v, %v; want READY", done.GetFile().GetState(), err)
	}

	expired := create()
	env.clock.set(time.Hour) // past the target's expiry
	done, err = env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: expired.GetFile().GetFileId()})
	env.clock.set(0)
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED ||
		!strings.Contains(done.GetFile().GetFailureReason(), "before the upload target expired") {
		t.Fatalf("complete after the target expired: %v, %v; want FAILED", done.GetFile(), err)
	}
}

// statOnly is a backend that signs with the local backend and stats and
// deletes through another.
type statOnly struct {
	signer.Signer
	stat signer.Signer
}

func (s statOnly) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	return s.stat.Stat(ctx, key)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestUnreachableBackendIsUnavailable: when the storage backend cannot be
// reached, CompleteUpload answers Unavailable with a RetryInfo (503 with
// Retry-After over REST), not Internal, logs the cause with the request
// id, and leaves the file PENDING.
func TestUnreachableBackendIsUnavailable(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	unreachable, err := s3.New(context.Background(), s3.Config{Bucket: "b", Region: "us-east-1", Endpoint: down.URL, UsePathStyle: true,
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	env := newTestEnvWith(t, envOptions{
		logger:      slog.New(NewLogHandler(slog.NewTextHandler(logs, nil))),
		wrapBackend: func(l *local.Signer) signer.Signer { return statOnly{Signer: l, stat: unreachable} },
	})
	ctx := metadata.AppendToOutgoingContext(env.as("acme"), "x-request-id", "req-unreachable-1")
	created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetFile().GetFileId()
	_, err = env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
	wantCode(t, err, codes.Unavailable)
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("status details %v, want a RetryInfo with a delay", status.Convert(err).Details())
	}
	if msg := status.Convert(err).Message(); strings.Contains(msg, down.URL) || strings.Contains(msg, "dial") {
		t.Errorf("message %q shows the cause to the caller", msg)
	}
	if l := logs.String(); !strings.Contains(l, "request_id=req-unreachable-1") || !strings.Contains(l, "connection refused") {
		t.Errorf("log %q, want the cause with the request id", l)
	}

	req, _ := http.NewRequest(http.MethodPost, env.restURL+"/v1/files/"+id+":complete", strings.NewReader("{}"))
	req.Header.Set("x-api-key", env.keys["acme"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("REST: %d, Retry-After %q, %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if f, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: id}); err != nil || f.GetFile().GetState() != presigndv1.FileState_FILE_STATE_PENDING {
		t.Errorf("file after an unreachable backend: %v, %v; want PENDING", f.GetFile().GetState(), err)
	}
}
