package server

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
)

// TestConcurrentCreateUploadsRespectNamesAndLimits fires many CreateUploads
// at once on one name and at the edge of a storage limit: exactly the
// allowed number win, the rest get AlreadyExists or ResourceExhausted.
func TestConcurrentCreateUploadsRespectNamesAndLimits(t *testing.T) {
	env := newTestEnv(t, &policy.Category{
		Name: "app", Backend: "local", Key: policy.MustParseKeyTemplate("{tenant}/{owner.application_id}/{uuid}"),
		ContentTypes: []string{"*/*"}, MaxSize: 100, URLTTL: time.Minute, Method: policy.MethodPut,
		UniqueNames: true, ScopeField: "application_id", StorageLimit: 10,
		Names:       policy.NameRules{MinLength: 4, MaxLength: 16, Pattern: regexp.MustCompile(`^[a-z0-9-]+$`)},
		OwnerFields: map[string]policy.FieldRule{"application_id": {Required: true}},
	})
	ctx := env.as("acme")
	race := func(n int, req func(i int) *presigndv1.CreateUploadRequest) map[codes.Code]int {
		var (
			mu    sync.Mutex
			wg    sync.WaitGroup
			codes = map[codes.Code]int{}
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := env.client.CreateUpload(ctx, req(i))
				mu.Lock()
				codes[status.Code(err)]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return codes
	}
	t.Run("one name, twenty requests: one wins", func(t *testing.T) {
		got := race(20, func(int) *presigndv1.CreateUploadRequest {
			return &presigndv1.CreateUploadRequest{Category: "app", DisplayName: "same-name", Filename: "f", ContentType: "text/plain",
				SizeBytes: 1, Owner: map[string]string{"application_id": "1"}}
		})
		if got[codes.OK] != 1 || got[codes.AlreadyExists] != 19 {
			t.Fatalf("outcomes %v, want 1 OK and 19 AlreadyExists", got)
		}
	})
	t.Run("a 10-byte limit, twenty 1-byte requests: ten win", func(t *testing.T) {
		got := race(20, func(i int) *presigndv1.CreateUploadRequest {
			return &presigndv1.CreateUploadRequest{Category: "app", DisplayName: "file-" + string(rune('a'+i)), Filename: "f", ContentType: "text/plain",
				SizeBytes: 1, Owner: map[string]string{"application_id": "2"}}
		})
		if got[codes.OK] != 10 || got[codes.ResourceExhausted] != 10 {
			t.Fatalf("outcomes %v, want 10 OK and 10 ResourceExhausted", got)
		}
	})
}
