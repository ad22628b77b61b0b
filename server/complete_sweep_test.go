package server

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/sweeper"
)

// The sweeper, with the server as its Completer, looks at each upload
// past its expiry before it expires it.
func TestSweeperCompletesUploadsWhoseBytesArrived(t *testing.T) {
	for _, batch := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("in batches of %d", batch), func(t *testing.T) {
			env := newTestEnv(t, multipartCategory("big"))
			ctx := env.as("acme")
			single := func(declared int, send []byte) string {
				created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "s.txt", ContentType: "text/plain", SizeBytes: int64(declared)})
				if err != nil {
					t.Fatal(err)
				}
				if send != nil {
					if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), send); code/100 != 2 {
						t.Fatalf("upload: %d", code)
					}
				}
				return created.GetFile().GetFileId()
			}
			body := randomBytes(t, 2*mpPart+10)
			multipart := func(parts []int32) string {
				created := env.createMultipart(t, ctx, "big", int64(len(body)), 0)
				env.signAndPut(t, ctx, created.GetFile(), body, parts)
				return created.GetFile().GetFileId()
			}
			want := map[string]struct {
				state store.State
				by    string
			}{
				single(5, []byte("hello")):  {store.StateReady, store.CompletedBySweeper},
				single(5, []byte("hell")):   {store.StateFailed, store.CompletedBySweeper},
				single(5, nil):              {store.StateExpired, ""},
				multipart([]int32{1, 2, 3}): {store.StateReady, store.CompletedBySweeper},
				multipart([]int32{1, 3}):    {store.StateExpired, ""},
			}
			sw, err := sweeper.New(sweeper.Config{
				Store: env.store, Completer: env.server, Backends: map[string]sweeper.Backend{"local": env.local},
				Interval: time.Minute, BatchSize: batch, MaxBatches: 100, Logger: slog.New(slog.DiscardHandler),
				// Past every upload's expiry, multipart ones (1h) included.
				Now: func() time.Time { return time.Now().Add(2 * time.Hour) },
			})
			if err != nil {
				t.Fatal(err)
			}
			counts, err := sw.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if counts.Completed != 2 || counts.Rejected != 1 || counts.Expired != 2 {
				t.Fatalf("sweep counts %+v: want 2 completed, 1 rejected, 2 expired", counts)
			}
			for id, w := range want {
				f, err := env.store.GetFile(context.Background(), "acme", id)
				if err != nil {
					t.Fatal(err)
				}
				if f.State != w.state || f.CompletedBy != w.by {
					t.Errorf("file %s (%s): %s by %q, want %s by %q", id, f.FailureReason, f.State, f.CompletedBy, w.state, w.by)
				}
			}
		})
	}
}
