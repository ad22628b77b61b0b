package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

func TestFilesRecordTheirUploader(t *testing.T) {
	env, iss := newAuthEnv(t, AuthConfig{})
	withJWT := func(extra map[string]any) context.Context {
		c := iss.Valid("acme")
		c.Subject = "user-42"
		c.Extra = extra
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+iss.Sign(t, authtest.RSAKey, c))
	}
	keySecret, keyID := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes})
	tests := []struct {
		name string
		ctx  context.Context
		want *presigndv1.Uploader
	}{
		{"an API key is recorded by its ID", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+keySecret),
			&presigndv1.Uploader{Kind: "api_key", Id: keyID}},
		{"a JWT is recorded by its subject, with the display name claim", withJWT(map[string]any{"preferred_username": "  Ada Lovelace "}),
			&presigndv1.Uploader{Kind: "jwt", Id: "user-42", DisplayName: "Ada Lovelace"}},
		{"a JWT without the display name claim has no display name", withJWT(nil),
			&presigndv1.Uploader{Kind: "jwt", Id: "user-42"}},
		{"a display name claim that is not a string is ignored", withJWT(map[string]any{"preferred_username": []string{"x"}}),
			&presigndv1.Uploader{Kind: "jwt", Id: "user-42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readyFile(t, env, tt.ctx)
			got, err := env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: f.GetFileId()})
			if err != nil {
				t.Fatal(err)
			}
			u := got.GetFile().GetUploader()
			if u.GetKind() != tt.want.GetKind() || u.GetId() != tt.want.GetId() || u.GetDisplayName() != tt.want.GetDisplayName() {
				t.Errorf("uploader = %v, want %v", u, tt.want)
			}
		})
	}
}

func TestPresignedURLsAreCounted(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	before := env.clock.now().Add(-time.Second)
	f := env.createReady(t, "acme", "a.txt", []byte("hello"))
	if f.GetPresignedUrlCount() != 1 || f.GetDownloadUrlCount() != 0 || f.GetLastPresignedUrlTime().AsTime().Before(before) {
		t.Fatalf("after the upload: presigned %d, downloads %d, last %v; want 1, 0, the upload's time",
			f.GetPresignedUrlCount(), f.GetDownloadUrlCount(), f.GetLastPresignedUrlTime())
	}
	uploadTime := f.GetLastPresignedUrlTime().AsTime()
	env.clock.set(time.Minute)
	for range 2 {
		if _, err := env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: f.GetFileId()}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	g := got.GetFile()
	if g.GetPresignedUrlCount() != 3 || g.GetDownloadUrlCount() != 2 || !g.GetLastPresignedUrlTime().AsTime().After(uploadTime.Add(59*time.Second)) {
		t.Errorf("after two downloads: presigned %d, downloads %d, last %v; want 3, 2, a minute after %v",
			g.GetPresignedUrlCount(), g.GetDownloadUrlCount(), g.GetLastPresignedUrlTime().AsTime(), uploadTime)
	}
	list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 1 || list.GetFiles()[0].GetPresignedUrlCount() != 3 {
		t.Errorf("ListFiles = %v, %v; want the file with 3 presigned URLs", list, err)
	}
	t.Run("REST shows the counts with the proto field names", func(t *testing.T) {
		code, body := restCall(t, env, http.MethodGet, "/v1/files/"+f.GetFileId(), "", map[string]string{"authorization": "Bearer " + env.keys["acme"]})
		var out struct {
			File struct {
				PresignedURLCount    string `json:"presigned_url_count"`
				DownloadURLCount     string `json:"download_url_count"`
				LastPresignedURLTime string `json:"last_presigned_url_time"`
				Uploader             struct {
					Kind string `json:"kind"`
				} `json:"uploader"`
			} `json:"file"`
		}
		if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil {
			t.Fatalf("GET: %d %s (%v)", code, body, err)
		}
		if out.File.PresignedURLCount != "3" || out.File.DownloadURLCount != "2" || out.File.LastPresignedURLTime == "" || out.File.Uploader.Kind != "api_key" {
			t.Errorf("REST file = %+v", out.File)
		}
	})
	t.Run("another tenant's download is refused and not counted", func(t *testing.T) {
		_, err := env.client.CreateDownloadUrl(env.as("globex"), &presigndv1.CreateDownloadUrlRequest{FileId: f.GetFileId()})
		wantCode(t, err, codes.NotFound)
		got, _ := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()})
		if got.GetFile().GetDownloadUrlCount() != 2 {
			t.Errorf("download_url_count = %d, want 2", got.GetFile().GetDownloadUrlCount())
		}
	})
}

func TestDownloadURLLifetime(t *testing.T) {
	env := newTestEnv(t,
		&policy.Category{Name: "short", Backend: "local", Key: policy.MustParseKeyTemplate(policy.DefaultKeyTemplate),
			MaxSize: 1 << 20, URLTTL: 5 * time.Minute, Method: policy.MethodPut},
		&policy.Category{Name: "long", Backend: "local", Key: policy.MustParseKeyTemplate(policy.DefaultKeyTemplate),
			MaxSize: 1 << 20, URLTTL: 5 * time.Minute, MaxDownloadTTL: 24 * time.Hour, Method: policy.MethodPut})
	ctx := env.as("acme")
	ready := func(category string) string {
		body := []byte("hello")
		resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: category, Filename: "a.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		sendUpload(t, targetOf(t, resp.GetUploadTarget()), body)
		if _, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: resp.GetFile().GetFileId()}); err != nil {
			t.Fatal(err)
		}
		return resp.GetFile().GetFileId()
	}
	short, long := ready("short"), ready("long")
	tests := []struct {
		name      string
		file      string
		ttl       *durationpb.Duration
		wantTTL   time.Duration
		wantField string // an InvalidArgument naming it
	}{
		{"no ttl lives the category's url_ttl", short, nil, 5 * time.Minute, ""},
		{"a shorter ttl is honoured", short, durationpb.New(30 * time.Second), 30 * time.Second, ""},
		{"a ttl up to url_ttl is the limit without max_download_ttl", short, durationpb.New(5 * time.Minute), 5 * time.Minute, ""},
		{"a ttl past url_ttl is refused without max_download_ttl", short, durationpb.New(5*time.Minute + time.Second), 0, "ttl"},
		{"max_download_ttl allows longer URLs", long, durationpb.New(24 * time.Hour), 24 * time.Hour, ""},
		{"a ttl past max_download_ttl is refused", long, durationpb.New(25 * time.Hour), 0, "ttl"},
		{"a zero ttl is refused", short, durationpb.New(0), 0, "ttl"},
		{"a negative ttl is refused", short, durationpb.New(-time.Minute), 0, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: tt.file})
			start := env.clock.now()
			resp, err := env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: tt.file, Ttl: tt.ttl})
			after, _ := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: tt.file})
			counted := after.GetFile().GetDownloadUrlCount() - before.GetFile().GetDownloadUrlCount()
			if tt.wantField != "" {
				if got := violations(t, err); strings.Join(got, ",") != tt.wantField {
					t.Fatalf("violations = %v, want %s", got, tt.wantField)
				}
				if counted != 0 {
					t.Errorf("a refused request counted %d download URLs", counted)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExpireTime().AsTime()
			if exp.Before(start.Add(tt.wantTTL).Add(-time.Second)) || exp.After(env.clock.now().Add(tt.wantTTL).Add(time.Second)) {
				t.Errorf("expires %v, want about %v from %v", exp, tt.wantTTL, start)
			}
			if counted != 1 {
				t.Errorf("counted %d download URLs, want 1", counted)
			}
		})
	}
}

func TestDeduplicationByContent(t *testing.T) {
	dedupe := &policy.Category{Name: "blobs", Backend: "local", Key: policy.MustParseKeyTemplate(policy.DefaultKeyTemplate),
		MaxSize: 1 << 20, URLTTL: 5 * time.Minute, Method: policy.MethodPut, RequireChecksum: signer.SHA256,
		ScopeField: "application_id", Deduplicate: true}
	plain := *dedupe
	plain.Name, plain.Deduplicate = "plain", false
	env := newTestEnv(t, dedupe, &plain)
	body := []byte("the same bytes")
	request := func(category, app string) *presigndv1.CreateUploadRequest {
		return &presigndv1.CreateUploadRequest{Category: category, Filename: "a.bin", ContentType: "application/octet-stream",
			SizeBytes: int64(len(body)), Checksum: sha256Checksum(body), Owner: map[string]string{"application_id": app}}
	}
	upload := func(t *testing.T, tenant string, req *presigndv1.CreateUploadRequest, complete bool) *presigndv1.CreateUploadResponse {
		t.Helper()
		ctx := env.as(tenant)
		resp, err := env.client.CreateUpload(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetDeduplicated() || !complete {
			return resp
		}
		if code := sendUpload(t, targetOf(t, resp.GetUploadTarget()), body); code/100 != 2 {
			t.Fatalf("upload: %d", code)
		}
		if _, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: resp.GetFile().GetFileId()}); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	count := func(t *testing.T, tenant, category string) int {
		t.Helper()
		list, err := env.client.ListFiles(env.as(tenant), &presigndv1.ListFilesRequest{Category: category})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.GetFiles())
	}

	pending := upload(t, "acme", request("blobs", "app-1"), false)
	t.Run("a PENDING file with the same content is not an answer", func(t *testing.T) {
		again := upload(t, "acme", request("blobs", "app-1"), true)
		if again.GetDeduplicated() || again.GetFile().GetFileId() == pending.GetFile().GetFileId() {
			t.Fatalf("answered with the PENDING file: %v", again)
		}
	})
	first := upload(t, "acme", request("blobs", "app-1"), false) // found READY now
	t.Run("the same bytes again answer with the READY file and no target", func(t *testing.T) {
		if !first.GetDeduplicated() || first.GetUploadTarget() != nil || first.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
			t.Fatalf("answer = %v, want the READY file, deduplicated, with no target", first)
		}
		if n := count(t, "acme", "blobs"); n != 2 {
			t.Errorf("acme has %d files in blobs, want 2 (the PENDING one and the READY one)", n)
		}
	})
	t.Run("another tenant never gets the file", func(t *testing.T) {
		theirs := upload(t, "globex", request("blobs", "app-1"), false)
		if theirs.GetDeduplicated() || theirs.GetFile().GetTenant() != "globex" || theirs.GetUploadTarget() == nil {
			t.Fatalf("globex got %v", theirs)
		}
	})
	t.Run("another owner scope does not share the file", func(t *testing.T) {
		other := upload(t, "acme", request("blobs", "app-2"), false)
		if other.GetDeduplicated() || other.GetUploadTarget() == nil {
			t.Fatalf("app-2 got %v", other)
		}
	})
	t.Run("a category that does not de-duplicate makes a new file", func(t *testing.T) {
		upload(t, "acme", request("plain", "app-1"), true)
		again := upload(t, "acme", request("plain", "app-1"), false)
		if again.GetDeduplicated() || again.GetUploadTarget() == nil {
			t.Fatalf("plain answered %v", again)
		}
	})
	t.Run("other bytes of the same size are not the same content", func(t *testing.T) {
		req := request("blobs", "app-1")
		req.Checksum = sha256Checksum([]byte("other bytes 12"))
		resp := upload(t, "acme", req, false)
		if resp.GetDeduplicated() {
			t.Fatalf("answered %v", resp)
		}
	})
	t.Run("REST carries deduplicated", func(t *testing.T) {
		b, _ := json.Marshal(map[string]any{"category": "blobs", "filename": "a.bin", "content_type": "application/octet-stream",
			"size_bytes": len(body), "checksum": map[string]string{"algorithm": "CHECKSUM_ALGORITHM_SHA256", "value": sha256Checksum(body).GetValue()},
			"owner": map[string]string{"application_id": "app-1"}})
		code, out := restCall(t, env, http.MethodPost, "/v1/uploads", string(b), map[string]string{"authorization": "Bearer " + env.keys["acme"]})
		if code != http.StatusOK || !strings.Contains(out, `"deduplicated":true`) || !strings.Contains(out, `"upload_target":null`) {
			t.Fatalf("POST /v1/uploads: %d %s", code, out)
		}
	})
}
