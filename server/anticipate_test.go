package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

// announcingStore is the SQLite store, counting the CreateFiles announced
// to it and the announcements still open (done not called).
type announcingStore struct {
	*sqlite.Store
	announced, open atomic.Int64
}

func (a *announcingStore) AnticipateCreate(ctx context.Context) (context.Context, func()) {
	a.announced.Add(1)
	a.open.Add(1)
	ctx, done := a.Store.AnticipateCreate(ctx)
	var once sync.Once
	return ctx, func() {
		done()
		once.Do(func() { a.open.Add(-1) })
	}
}

// TestCreateUploadsAreAnnounced checks that every authenticated
// CreateUpload, over gRPC and REST, and nothing else is announced to a
// store that groups its commits, exactly once, and that the announcement
// ends whatever becomes of the call: one left open would hold every later
// batch of creates for its full wait. Calls without a valid credential are
// never announced: each would make a batch wait for a create that never
// comes.
func TestCreateUploadsAreAnnounced(t *testing.T) {
	var st *announcingStore
	env := newTestEnvWith(t, envOptions{wrapStore: func(s *sqlite.Store) store.Store {
		st = &announcingStore{Store: s}
		return st
	}})
	valid := func() *presigndv1.CreateUploadRequest {
		return &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3}
	}
	created, err := env.client.CreateUpload(env.as("acme"), valid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		call      func() error
		want      codes.Code
		announced int64
	}{
		{"a create", func() error { _, err := env.client.CreateUpload(env.as("acme"), valid()); return err }, codes.OK, 1},
		{"validate_only", func() error {
			req := valid()
			req.ValidateOnly = true
			_, err := env.client.CreateUpload(env.as("acme"), req)
			return err
		}, codes.OK, 1},
		{"a retry with the same request_id", func() error {
			req := valid()
			req.RequestId = "announce-retry"
			for range 2 {
				if _, err := env.client.CreateUpload(env.as("acme"), req); err != nil {
					return err
				}
			}
			return nil
		}, codes.OK, 2},
		{"an invalid request", func() error {
			req := valid()
			req.SizeBytes = 0
			_, err := env.client.CreateUpload(env.as("acme"), req)
			return err
		}, codes.InvalidArgument, 1},
		{"no credential", func() error { _, err := env.client.CreateUpload(context.Background(), valid()); return err }, codes.Unauthenticated, 0},
		{"an invalid credential", func() error {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer psk_not_a_key")
			_, err := env.client.CreateUpload(ctx, valid())
			return err
		}, codes.Unauthenticated, 0},
		{"REST without a credential", func() error {
			return restCode(t, env, `{"filename":"b.txt","content_type":"text/plain","size_bytes":3}`, nil, http.StatusUnauthorized)
		}, codes.OK, 0},
		{"REST with an invalid credential", func() error {
			return restCode(t, env, `{"filename":"b.txt","content_type":"text/plain","size_bytes":3}`,
				map[string]string{"X-Api-Key": "psk_not_a_key"}, http.StatusUnauthorized)
		}, codes.OK, 0},
		{"REST with an invalid request", func() error {
			return restCode(t, env, `{"filename":"b.txt","content_type":"text/plain","size_bytes":0}`,
				map[string]string{"Authorization": "Bearer " + env.keys["acme"]}, http.StatusBadRequest)
		}, codes.OK, 1},
		{"a header-only stream, then a create", func() error {
			// The stream's headers reach the server before the create's
			// on the same connection; it never sends its request.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
			if _, err := env.conn.NewStream(ctx, desc, presigndv1.FileService_CreateUpload_FullMethodName); err != nil {
				return err
			}
			_, err := env.client.CreateUpload(env.as("acme"), valid())
			return err
		}, codes.OK, 1},
		{"a request that does not decode", func() error {
			// Field 1 (category, a string) holding invalid UTF-8.
			var out presigndv1.CreateUploadResponse
			return env.conn.Invoke(env.as("acme"), presigndv1.FileService_CreateUpload_FullMethodName,
				wrapperspb.Bytes([]byte{0xff, 0xfe}), &out)
		}, codes.Internal, 0}, // refused before the interceptors
		{"a cancelled call", func() error {
			ctx, cancel := context.WithCancel(env.as("acme"))
			cancel()
			_, err := env.client.CreateUpload(ctx, valid())
			return err
		}, codes.Canceled, 0}, // never sent
		{"over REST", func() error {
			return restCode(t, env, `{"filename":"b.txt","content_type":"text/plain","size_bytes":3}`,
				map[string]string{"Authorization": "Bearer " + env.keys["acme"]}, http.StatusOK)
		}, codes.OK, 1},
		{"another method", func() error {
			_, err := env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: created.GetFile().GetFileId()})
			return err
		}, codes.OK, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := st.announced.Load()
			if got := status.Code(tc.call()); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
			if n := st.announced.Load() - before; n != tc.announced {
				t.Errorf("%d CreateFiles announced, want %d", n, tc.announced)
			}
			deadline := time.Now().Add(10 * time.Second)
			for st.open.Load() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d announcements still open 10s after the call", st.open.Load())
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// restCode makes a REST CreateUpload with body and headers and reports
// an HTTP status other than want as a test error.
func restCode(t *testing.T, env *testEnv, body string, headers map[string]string, want int) error {
	t.Helper()
	if code, resp := restCall(t, env, "POST", "/v1/uploads", body, headers); code != want {
		t.Errorf("REST CreateUpload: %d %s, want %d", code, resp, want)
	}
	return nil
}

// The SQLite store groups its commits of creates.
var _ store.CreateAnticipator = (*sqlite.Store)(nil)
