package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// bodylessCategory fixes PDF and 64 bytes, and lets a scope hold at most
// 100 bytes: one reservation of the limit fits, two do not.
func bodylessCategory() *policy.Category {
	return &policy.Category{Name: "release_form", Backend: "local",
		Key:          policy.MustParseKeyTemplate("tenants/{tenant}/releaseForms/{uuid}{ext}"),
		ContentTypes: []string{"application/pdf"}, MaxSize: 64, StorageLimit: 100,
		URLTTL: 15 * time.Minute, Method: policy.MethodPut, BodylessTarget: true}
}

func TestGetUploadTargetWithoutABody(t *testing.T) {
	plain := &policy.Category{Name: "plain", Backend: "local", Key: policy.MustParseKeyTemplate(policy.DefaultKeyTemplate),
		ContentTypes: []string{"application/pdf"}, MaxSize: 64, URLTTL: time.Minute, Method: policy.MethodPut}
	env := newTestEnv(t, bodylessCategory(), plain)
	ctx := env.as("acme")

	resp, err := env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "release_form"})
	if err != nil {
		t.Fatal(err)
	}
	f := resp.GetFile()
	t.Run("the file is named from its id and reserves the limit", func(t *testing.T) {
		id := f.GetFileId()
		if f.GetFilename() != id+".pdf" || f.GetKey() != "tenants/acme/releaseForms/"+id+".pdf" {
			t.Errorf("filename %q, key %q; want %s.pdf under tenants/acme/releaseForms/", f.GetFilename(), f.GetKey(), id)
		}
		if !f.GetSizeUnknown() || f.GetSizeBytes() != 64 || f.GetState() != presigndv1.FileState_FILE_STATE_PENDING || f.GetContentType() != "application/pdf" {
			t.Errorf("file = size_unknown %t, size %d, state %s, type %q; want true, 64, PENDING, application/pdf",
				f.GetSizeUnknown(), f.GetSizeBytes(), f.GetState(), f.GetContentType())
		}
		if tg := resp.GetUploadTarget(); tg.GetHeaders()["Content-Type"] != "application/pdf" || tg.GetMaxSizeBytes() != 64 {
			t.Errorf("target headers %v, max %d; want the PDF type and 64", tg.GetHeaders(), tg.GetMaxSizeBytes())
		}
	})
	t.Run("a second reservation of the limit is over the storage limit", func(t *testing.T) {
		_, err := env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "release_form"})
		wantCode(t, err, codes.ResourceExhausted)
	})
	t.Run("a body over the limit is refused by the target", func(t *testing.T) {
		if code := sendUpload(t, targetOf(t, resp.GetUploadTarget()), bytes.Repeat([]byte("x"), 65)); code < 400 {
			t.Errorf("oversize PUT answered %d", code)
		}
	})
	body := []byte("%PDF-1.7 twenty bytes")
	t.Run("completion records the real size and frees the rest of the reservation", func(t *testing.T) {
		if code := sendUpload(t, targetOf(t, resp.GetUploadTarget()), body); code != http.StatusOK && code != http.StatusNoContent && code != http.StatusCreated {
			t.Fatalf("PUT answered %d", code)
		}
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()})
		if err != nil {
			t.Fatal(err)
		}
		got := done.GetFile()
		if got.GetState() != presigndv1.FileState_FILE_STATE_READY || got.GetSizeBytes() != int64(len(body)) || got.GetSizeUnknown() {
			t.Fatalf("completed file: state %s, size %d, size_unknown %t; want READY, %d, false", got.GetState(), got.GetSizeBytes(), got.GetSizeUnknown(), len(body))
		}
		if _, err := env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "release_form"}); err != nil {
			t.Fatalf("%d bytes used and 64 reserved fit in 100: %v", len(body), err)
		}
	})
	t.Run("a category that has not opted in is refused naming the category", func(t *testing.T) {
		_, err := env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "plain"})
		if got := violations(t, err); strings.Join(got, ",") != "category" {
			t.Fatalf("violations = %v, want category", got)
		}
	})
	t.Run("an unknown category is refused", func(t *testing.T) {
		_, err := env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "nope"})
		if c := status.Code(err); c != codes.InvalidArgument && c != codes.NotFound {
			t.Fatalf("code = %v (%v), want InvalidArgument or NotFound", c, err)
		}
	})
}

func TestGetUploadTargetOverREST(t *testing.T) {
	env := newTestEnv(t, bodylessCategory())
	auth := map[string]string{"Authorization": "Bearer " + env.keys["globex"]}
	code, out := restCall(t, env, http.MethodGet, "/v1/categories/release_form/upload-target", "", auth)
	var resp struct {
		File struct {
			FileID      string            `json:"file_id"`
			Key         string            `json:"key"`
			StorageURI  string            `json:"storage_uri"`
			SizeBytes   string            `json:"size_bytes"`
			SizeUnknown bool              `json:"size_unknown"`
			Owner       map[string]string `json:"owner"`
		} `json:"file"`
		UploadTarget struct {
			URL     string            `json:"url"`
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		} `json:"upload_target"`
	}
	if err := json.Unmarshal([]byte(out), &resp); code != http.StatusOK || err != nil {
		t.Fatalf("GET: %d %s", code, out)
	}
	if !regexp.MustCompile(`^tenants/globex/releaseForms/[0-9a-f-]{36}\.pdf$`).MatchString(resp.File.Key) ||
		!resp.File.SizeUnknown || resp.File.SizeBytes != "64" || resp.UploadTarget.URL == "" || resp.UploadTarget.Method != "UPLOAD_METHOD_PUT" {
		t.Fatalf("GET answered %s", out)
	}
	t.Run("owner fields are query parameters", func(t *testing.T) {
		code, out := restCall(t, env, http.MethodGet, "/v1/categories/release_form/upload-target?owner[customer_id]=c-1", "", map[string]string{"Authorization": "Bearer " + env.keys["acme"]})
		if code != http.StatusOK || !strings.Contains(out, `"owner":{"customer_id":"c-1"}`) {
			t.Fatalf("GET with owner: %d %s", code, out)
		}
	})
	t.Run("an unknown category is a 4xx, not a 500", func(t *testing.T) {
		if code, out := restCall(t, env, http.MethodGet, "/v1/categories/Bad..Name/upload-target", "", auth); code < 400 || code >= 500 {
			t.Fatalf("GET: %d %s", code, out)
		}
	})
	t.Run("without a credential it is refused", func(t *testing.T) {
		if code, out := restCall(t, env, http.MethodGet, "/v1/categories/release_form/upload-target", "", nil); code != http.StatusUnauthorized {
			t.Fatalf("GET: %d %s", code, out)
		}
	})
}

// CompleteUpload checks an upload that declared no size against the
// limit it reserved, and a declared size exactly, whatever the backend
// enforced on the way in.
func TestMismatchOfAnUndeclaredSize(t *testing.T) {
	pdf := func(size int64, unknown bool) *store.File {
		return &store.File{SizeBytes: size, SizeUnknown: unknown, ContentType: "application/pdf"}
	}
	tests := []struct {
		name   string
		f      *store.File
		stored int64
		want   string
	}{
		{"an undeclared size within the limit agrees", pdf(64, true), 20, ""},
		{"an undeclared size of exactly the limit agrees", pdf(64, true), 64, ""},
		{"an undeclared size over the limit fails", pdf(64, true), 65, "more than the 64 allowed"},
		{"a declared size must still match exactly", pdf(64, false), 20, "64 were declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mismatch(tt.f, signer.ObjectInfo{Size: tt.stored, ContentType: "application/pdf"})
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("mismatch = %q, want %q", got, tt.want)
			}
		})
	}
}
