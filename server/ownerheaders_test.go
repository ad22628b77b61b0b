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

	"github.com/presignd/presignd/auth"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

func TestOwnerFieldsFromHeaders(t *testing.T) {
	mapped := &policy.Category{Name: "s3files", Backend: "local", Key: policy.MustParseKeyTemplate("{tenant}/{owner.business_id}/{uuid}"),
		MaxSize: 1 << 20, URLTTL: time.Minute, Method: policy.MethodPut,
		OwnerFields:  map[string]policy.FieldRule{"business_id": {Required: true}, "user_id": {}},
		OwnerHeaders: map[string]string{"business_id": "X-Business-Id", "user_id": "X-User-Id"}}
	plain := &policy.Category{Name: "plain", Backend: "local", Key: policy.MustParseKeyTemplate(policy.DefaultKeyTemplate),
		MaxSize: 1 << 20, URLTTL: time.Minute, Method: policy.MethodPut}
	env := newTestEnv(t, mapped, plain)
	trusted := env.keys["acme"] // every scope, owner:headers included
	untrusted, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: []string{auth.ScopeUpload, auth.ScopeRead}})
	call := func(key string, md ...string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), append([]string{"authorization", "Bearer " + key}, md...)...)
	}
	req := func(category string, owner map[string]string) *presigndv1.CreateUploadRequest {
		return &presigndv1.CreateUploadRequest{Category: category, Filename: "a.pdf", ContentType: "application/pdf", SizeBytes: 10, Owner: owner}
	}
	tests := []struct {
		name      string
		ctx       context.Context
		req       *presigndv1.CreateUploadRequest
		wantOwner map[string]string
		wantCode  codes.Code
		wantField string
	}{
		{"a trusted credential's headers fill the owner", call(trusted, "x-business-id", "biz-1", "x-user-id", "u-7"), req("s3files", nil),
			map[string]string{"business_id": "biz-1", "user_id": "u-7"}, codes.OK, ""},
		{"a header and the same body value agree", call(trusted, "x-business-id", "biz-1"), req("s3files", map[string]string{"business_id": "biz-1"}),
			map[string]string{"business_id": "biz-1"}, codes.OK, ""},
		{"a header adds to the body's fields", call(trusted, "x-user-id", "u-7"), req("s3files", map[string]string{"business_id": "biz-2"}),
			map[string]string{"business_id": "biz-2", "user_id": "u-7"}, codes.OK, ""},
		{"an untrusted credential sending a mapped header is refused", call(untrusted, "x-business-id", "biz-1"), req("s3files", nil),
			nil, codes.PermissionDenied, ""},
		{"an untrusted credential is refused even when the body agrees", call(untrusted, "x-business-id", "biz-1"), req("s3files", map[string]string{"business_id": "biz-1"}),
			nil, codes.PermissionDenied, ""},
		{"an untrusted credential without the headers uses the body", call(untrusted), req("s3files", map[string]string{"business_id": "biz-3"}),
			map[string]string{"business_id": "biz-3"}, codes.OK, ""},
		{"a header that disagrees with the body is refused", call(trusted, "x-business-id", "biz-1"), req("s3files", map[string]string{"business_id": "biz-9"}),
			nil, codes.InvalidArgument, "owner.business_id"},
		{"a header sent twice is refused", call(trusted, "x-business-id", "biz-1", "x-business-id", "biz-2"), req("s3files", nil),
			nil, codes.InvalidArgument, "owner.business_id"},
		{"an oversized header value is refused", call(trusted, "x-business-id", strings.Repeat("b", 257)), req("s3files", nil),
			nil, codes.InvalidArgument, "owner.business_id"},
		{"a header value the key template refuses is refused", call(trusted, "x-business-id", ".."), req("s3files", nil),
			nil, codes.InvalidArgument, "owner.business_id"},
		{"a category that maps no headers ignores them", call(untrusted, "x-business-id", "biz-1"), req("plain", nil),
			nil, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client.CreateUpload(tt.ctx, tt.req)
			if tt.wantField != "" {
				if got := violations(t, err); strings.Join(got, ",") != tt.wantField {
					t.Fatalf("violations = %v, want %s", got, tt.wantField)
				}
				return
			}
			wantCode(t, err, tt.wantCode)
			if err != nil {
				return
			}
			got := resp.GetFile().GetOwner()
			if len(got) != len(tt.wantOwner) {
				t.Fatalf("owner = %v, want %v", got, tt.wantOwner)
			}
			for k, v := range tt.wantOwner {
				if got[k] != v {
					t.Fatalf("owner = %v, want %v", got, tt.wantOwner)
				}
			}
		})
	}
	t.Run("a refused call writes nothing", func(t *testing.T) {
		list, err := env.client.ListFiles(env.as("acme"), &presigndv1.ListFilesRequest{Category: "s3files"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(list.GetFiles()); n != 4 {
			t.Errorf("%d files in s3files, want the 4 accepted calls'", n)
		}
	})
	t.Run("REST headers reach the owner fields", func(t *testing.T) {
		body := `{"category":"s3files","filename":"a.pdf","content_type":"application/pdf","size_bytes":"10"}`
		code, out := restCall(t, env, http.MethodPost, "/v1/uploads", body, map[string]string{
			"Authorization": "Bearer " + trusted, "X-BUSINESS-ID": "biz-rest", "x-user-id": "u-rest"})
		var resp struct {
			File struct {
				Owner map[string]string `json:"owner"`
				Key   string            `json:"key"`
			} `json:"file"`
		}
		if err := json.Unmarshal([]byte(out), &resp); code != http.StatusOK || err != nil {
			t.Fatalf("POST: %d %s", code, out)
		}
		if resp.File.Owner["business_id"] != "biz-rest" || resp.File.Owner["user_id"] != "u-rest" || !strings.Contains(resp.File.Key, "/biz-rest/") {
			t.Errorf("file = %+v", resp.File)
		}
		code, out = restCall(t, env, http.MethodPost, "/v1/uploads", body, map[string]string{"Authorization": "Bearer " + untrusted, "X-Business-Id": "biz-rest"})
		if code != http.StatusForbidden || !strings.Contains(out, "owner:headers") {
			t.Errorf("untrusted REST call: %d %s, want 403 naming owner:headers", code, out)
		}
	})
}
