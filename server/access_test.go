package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

const appRule = "request.owner.application_id in credential.claims.application_ids"

// appsCategory is a category scoped by application, whose files only
// callers whose JWT lists the application may touch.
func appsCategory(t testing.TB) *policy.Category {
	t.Helper()
	rules, err := policy.CompileRules([]policy.RuleSpec{{Name: "own applications", Expr: appRule}})
	if err != nil {
		t.Fatal(err)
	}
	cat := policy.Default("local")
	cat.Name = "apps"
	cat.ScopeField = "application_id"
	cat.OwnerFields = map[string]policy.FieldRule{"application_id": {Required: true}}
	cat.AccessRules = rules
	return cat
}

// writeCounter counts the store writes and backend calls of a server.
type writeCounter struct{ store, backend atomic.Int64 }

type countingStore struct {
	*sqlite.Store
	n *writeCounter
}

func (c countingStore) CreateFile(ctx context.Context, f *store.File, q store.Quota) error {
	c.n.store.Add(1)
	return c.Store.CreateFile(ctx, f, q)
}

func (c countingStore) UpdateFile(ctx context.Context, tenant, id string, update func(*store.File) error) (*store.File, error) {
	c.n.store.Add(1)
	return c.Store.UpdateFile(ctx, tenant, id, update)
}

func (c countingStore) DeleteFile(ctx context.Context, tenant, id string) error {
	c.n.store.Add(1)
	return c.Store.DeleteFile(ctx, tenant, id)
}

func (c countingStore) DeleteFileAndQueueObject(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.Deletion, error) {
	c.n.store.Add(1)
	return c.Store.DeleteFileAndQueueObject(ctx, tenant, id, now, dueAt)
}

func (c countingStore) AbortUpload(ctx context.Context, tenant, id string, now, dueAt time.Time) (*store.File, error) {
	c.n.store.Add(1)
	return c.Store.AbortUpload(ctx, tenant, id, now, dueAt)
}

func (c countingStore) Usage(ctx context.Context, tenant string, filter store.UsageFilter) (store.Usage, error) {
	c.n.store.Add(1)
	return c.Store.Usage(ctx, tenant, filter)
}

func (c countingStore) ListFiles(ctx context.Context, tenant string, opts store.ListOptions) ([]*store.File, bool, error) {
	c.n.store.Add(1)
	return c.Store.ListFiles(ctx, tenant, opts)
}

// countingBackend embeds the local signer, so it keeps its capabilities.
type countingBackend struct {
	*local.Signer
	n *writeCounter
}

func (c countingBackend) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	c.n.backend.Add(1)
	return c.Signer.SignUpload(ctx, req)
}

func (c countingBackend) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	c.n.backend.Add(1)
	return c.Signer.SignDownload(ctx, req)
}

func (c countingBackend) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	c.n.backend.Add(1)
	return c.Signer.Stat(ctx, key)
}

func (c countingBackend) Delete(ctx context.Context, key string) error {
	c.n.backend.Add(1)
	return c.Signer.Delete(ctx, key)
}

func (c countingBackend) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	c.n.backend.Add(1)
	return c.Signer.CreateMultipart(ctx, req)
}

func (c countingBackend) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	c.n.backend.Add(1)
	return c.Signer.SignPart(ctx, req)
}

func (c countingBackend) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	c.n.backend.Add(1)
	return c.Signer.ListParts(ctx, key, uploadID)
}

func (c countingBackend) AbortMultipart(ctx context.Context, key, uploadID string) error {
	c.n.backend.Add(1)
	return c.Signer.AbortMultipart(ctx, key, uploadID)
}

// accessEnv is a server with the apps category, files of applications a1
// (allowed to the caller), a2 (not listed in the caller's claim) and a3
// (listed, but on the deny list), and the counters of its writes.
type accessEnv struct {
	env *testEnv
	iss *authtest.Issuer
	n   *writeCounter
	// ready and multipart are a READY file and a PENDING multipart
	// upload per application.
	ready, multipart map[string]string
}

func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	n := &writeCounter{}
	iss := authtest.New(t)
	env := newTestEnvWith(t, envOptions{
		categories: []*policy.Category{appsCategory(t)},
		wrapStore:  func(s *sqlite.Store) store.Store { return countingStore{s, n} },
		wrapBackend: func(l *local.Signer) signer.Signer {
			return countingBackend{l, n}
		},
		authFor: func(clock *testClock) AuthConfig {
			v, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{
				JWKSURL: iss.JWKSURL, Issuer: iss.Issuer, Audience: iss.Audience, Leeway: 5 * time.Second, Now: clock.now,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { v.Close() })
			return AuthConfig{JWT: v}
		},
	})
	a := &accessEnv{env: env, iss: iss, n: n, ready: map[string]string{}, multipart: map[string]string{}}
	setup := a.jwt(t, []string{"a1", "a2", "a3"})
	for _, app := range []string{"a1", "a2", "a3"} {
		a.ready[app] = a.readyFile(t, setup, app)
		a.multipart[app] = a.multipartFile(t, setup, app)
	}
	a.deny(t, "a3")
	return a
}

// jwt returns a context with a token of tenant acme carrying
// application_ids apps (no such claim when apps is nil).
func (a *accessEnv) jwt(t *testing.T, apps []string) context.Context {
	t.Helper()
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+a.token(t, apps))
}

func (a *accessEnv) token(t *testing.T, apps []string) string {
	c := a.iss.Valid("acme")
	if apps != nil {
		c.Extra = map[string]any{"application_ids": apps}
	}
	return a.iss.Sign(t, authtest.ECKey, c)
}

// deny puts application app of category apps on acme's deny list.
func (a *accessEnv) deny(t *testing.T, app string) {
	t.Helper()
	if err := a.env.store.AddDenyEntry(context.Background(), &store.DenyEntry{Tenant: "acme", Category: "apps", Field: "application_id", Value: app, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a.env.server.denyList.forget("acme")
}

func (a *accessEnv) readyFile(t *testing.T, ctx context.Context, app string) string {
	t.Helper()
	body := []byte("hello")
	resp, err := a.env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "apps", Filename: "a.txt", ContentType: "text/plain",
		SizeBytes: int64(len(body)), Owner: map[string]string{"application_id": app}})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, resp.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload status %d", code)
	}
	if _, err := a.env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: resp.GetFile().GetFileId()}); err != nil {
		t.Fatal(err)
	}
	return resp.GetFile().GetFileId()
}

func (a *accessEnv) multipartFile(t *testing.T, ctx context.Context, app string) string {
	t.Helper()
	resp, err := a.env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "apps", Filename: "m.bin", ContentType: "application/octet-stream",
		SizeBytes: 5, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART, Owner: map[string]string{"application_id": app}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetFile().GetFileId()
}

// accessCase is a column of the access matrix: who calls, on which
// application's files, and what a refusal must be.
type accessCase struct {
	name   string
	claims []string
	app    string
	allow  bool
}

var accessCases = []accessCase{
	{"the rule allows", []string{"a1", "a3"}, "a1", true},
	{"the rule denies", []string{"a1", "a3"}, "a2", false},
	{"the owner is on the deny list", []string{"a1", "a3"}, "a3", false},
	{"the claim is missing", nil, "a1", false},
}

// accessRPC is a row of the access matrix: an RPC on the files of app,
// and whether a refusal is NotFound (the RPC names a stored file) or
// PermissionDenied.
type accessRPC struct {
	name     string
	onFile   bool
	grpcCall func(ctx context.Context, a *accessEnv, app string) error
	// rest is the verb, path and body of the same call.
	rest func(a *accessEnv, app string) (verb, path, body string)
}

var accessRPCs = []accessRPC{
	{"CreateUpload", false, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "apps", Filename: "n.txt", ContentType: "text/plain", SizeBytes: 3,
			Owner: map[string]string{"application_id": app}})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/uploads", `{"category":"apps","filename":"n.txt","content_type":"text/plain","size_bytes":3,"owner":{"application_id":"` + app + `"}}`
	}},
	{"CompleteUpload", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: a.ready[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/files/" + a.ready[app] + ":complete", `{}`
	}},
	{"GetFile", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: a.ready[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "GET", "/v1/files/" + a.ready[app], ""
	}},
	{"ListFiles", false, func(ctx context.Context, a *accessEnv, app string) error {
		resp, err := a.env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{Category: "apps", Owner: map[string]string{"application_id": app}})
		for _, f := range resp.GetFiles() {
			if f.GetOwner()["application_id"] != app {
				return status.Errorf(codes.Internal, "listed a file of %s", f.GetOwner()["application_id"])
			}
		}
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "GET", "/v1/files?category=apps&owner%5Bapplication_id%5D=" + app, ""
	}},
	{"UpdateFile", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{File: &presigndv1.File{FileId: a.ready[app], Metadata: map[string]string{"touched": "yes"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"metadata"}}})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "PATCH", "/v1/files/" + a.ready[app] + "?update_mask=metadata", `{"metadata":{"touched":"yes"}}`
	}},
	{"CreateDownloadUrl", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: a.ready[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/files/" + a.ready[app] + ":download", `{}`
	}},
	{"CheckName", false, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.CheckName(ctx, &presigndv1.CheckNameRequest{Category: "apps", DisplayName: "a.txt", Owner: map[string]string{"application_id": app}})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/uploads:checkName", `{"category":"apps","display_name":"a.txt","owner":{"application_id":"` + app + `"}}`
	}},
	{"GetUsage", false, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{Category: "apps", Owner: map[string]string{"application_id": app}})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "GET", "/v1/usage?category=apps&owner%5Bapplication_id%5D=" + app, ""
	}},
	{"SignParts", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: a.multipart[app], PartNumbers: []int32{1}})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/files/" + a.multipart[app] + "/parts:sign", `{"part_numbers":[1]}`
	}},
	{"ListParts", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: a.multipart[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "GET", "/v1/files/" + a.multipart[app] + "/parts", ""
	}},
	// The two that consume their file come last.
	{"AbortUpload", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: a.multipart[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "POST", "/v1/files/" + a.multipart[app] + ":abort", `{}`
	}},
	{"DeleteFile", true, func(ctx context.Context, a *accessEnv, app string) error {
		_, err := a.env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: a.ready[app]})
		return err
	}, func(a *accessEnv, app string) (string, string, string) {
		return "DELETE", "/v1/files/" + a.ready[app], ""
	}},
}

// TestAccessMatrix runs every file RPC against the four cases of access
// (the rule allows, the rule denies, the owner on the deny list, the claim
// missing) over gRPC and over REST: an allowed call succeeds; a refused
// one is PermissionDenied naming what refused (NotFound when it names a
// stored file, so that its existence does not leak) and neither writes
// to the store nor calls the backend.
func TestAccessMatrix(t *testing.T) {
	for _, transport := range []string{"gRPC", "REST"} {
		t.Run(transport, func(t *testing.T) {
			a := newAccessEnv(t)
			for _, rpc := range accessRPCs {
				for _, c := range accessCases {
					t.Run(rpc.name+" when "+c.name, func(t *testing.T) {
						storeBefore, backendBefore := a.n.store.Load(), a.n.backend.Load()
						var code codes.Code
						var msg string
						if transport == "gRPC" {
							err := rpc.grpcCall(a.jwt(t, c.claims), a, c.app)
							code, msg = status.Code(err), status.Convert(err).Message()
						} else {
							verb, path, body := rpc.rest(a, c.app)
							var httpCode int
							httpCode, msg = restCall(t, a.env, verb, path, body, map[string]string{"Authorization": "Bearer " + a.token(t, c.claims)})
							code = map[int]codes.Code{http.StatusOK: codes.OK, http.StatusForbidden: codes.PermissionDenied, http.StatusNotFound: codes.NotFound}[httpCode]
							if code == codes.OK && httpCode != http.StatusOK {
								code = codes.Unknown
							}
						}
						want := codes.OK
						switch {
						case c.allow:
						case rpc.onFile:
							want = codes.NotFound
						default:
							want = codes.PermissionDenied
						}
						if code != want {
							t.Fatalf("code = %v (%s), want %v", code, msg, want)
						}
						if want == codes.PermissionDenied {
							wantRule := "own applications"
							if c.app == "a3" {
								wantRule = "deny list"
							}
							if !strings.Contains(msg, wantRule) {
								t.Errorf("refusal %q does not name %q", msg, wantRule)
							}
						}
						if want == codes.NotFound && (strings.Contains(msg, "rule") || strings.Contains(msg, "deny")) {
							t.Errorf("NotFound %q tells a rule refused, so that the file exists", msg)
						}
						if !c.allow {
							if n := a.n.store.Load() - storeBefore; n != 0 {
								t.Errorf("a refused call made %d store writes or scans", n)
							}
							if n := a.n.backend.Load() - backendBefore; n != 0 {
								t.Errorf("a refused call made %d backend calls", n)
							}
						}
					})
				}
			}
		})
	}
}

// TestListFilesLeavesOutDeniedFiles: a list across the category's
// applications (no owner filter) is refused by a rule on the owner, and a
// list of the whole tenant leaves out the files the rules and the deny
// list refuse.
func TestListFilesLeavesOutDeniedFiles(t *testing.T) {
	a := newAccessEnv(t)
	ctx := a.jwt(t, []string{"a1", "a3"})
	_, err := a.env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{Category: "apps"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "application_id") {
		t.Fatalf("ListFiles of apps without an owner filter = %v, want PermissionDenied naming the missing owner field", err)
	}
	resp, err := a.env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.GetFiles() {
		if app := f.GetOwner()["application_id"]; app != "a1" {
			t.Errorf("ListFiles of the tenant listed a file of %s", app)
		}
	}
	if len(resp.GetFiles()) != 2 {
		t.Errorf("ListFiles of the tenant listed %d files, want a1's 2", len(resp.GetFiles()))
	}
	if _, err := a.env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetUsage of the whole tenant = %v, want PermissionDenied while a category has rules", err)
	}
}

// TestDenyListTakesEffectWithinTheCacheTTL: an entry added or removed
// behind the server's back (as by another replica) takes effect once the
// cache TTL has passed, and not before.
func TestDenyListTakesEffectWithinTheCacheTTL(t *testing.T) {
	a := newAccessEnv(t)
	ctx := a.jwt(t, []string{"a1", "a3"})
	get := func() codes.Code {
		_, err := a.env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: a.ready["a1"]})
		return status.Code(err)
	}
	if got := get(); got != codes.OK {
		t.Fatalf("GetFile before the entry = %v", got)
	}
	if err := a.env.store.AddDenyEntry(context.Background(), &store.DenyEntry{Tenant: "acme", Category: "apps", Field: "application_id", Value: "a1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != codes.OK {
		t.Fatalf("GetFile within the TTL = %v, want the cached list (OK)", got)
	}
	a.env.clock.set(DefaultDenyListCacheTTL)
	if got := get(); got != codes.NotFound {
		t.Fatalf("GetFile after the TTL = %v, want NotFound", got)
	}
	if err := a.env.store.RemoveDenyEntry(context.Background(), "acme", "apps", "application_id", "a1"); err != nil {
		t.Fatal(err)
	}
	a.env.clock.set(2 * DefaultDenyListCacheTTL)
	if got := get(); got != codes.OK {
		t.Fatalf("GetFile after the removal and the TTL = %v, want OK", got)
	}
}

// BenchmarkCreateUploadAccessRule measures CreateUpload (called in
// process, past the interceptors: policy, key, local signing, the SQLite
// insert) in a category without access rules and in the same category
// with the own-applications rule, in one run; "check" is the work the
// rule and the deny list add to each call on their own.
//
//	go test ./server -run '^$' -bench CreateUploadAccessRule -benchmem
func BenchmarkCreateUploadAccessRule(b *testing.B) {
	ruled := appsCategory(b)
	plain := appsCategory(b)
	plain.Name, plain.AccessRules = "plain", nil
	env := newTestEnvWith(b, envOptions{categories: []*policy.Category{ruled, plain}})
	p := auth.Principal{Tenant: "acme", Kind: auth.KindJWT, Subject: "u1", Scopes: auth.AllScopes,
		Claims: map[string]any{"application_ids": []any{"a1", "a2", "a3"}, "sub": "u1"}}
	ctx := context.WithValue(context.Background(), principalKey{}, p)
	for _, name := range []string{"plain", "apps"} {
		b.Run(name, func(b *testing.B) {
			req := &presigndv1.CreateUploadRequest{Category: name, Filename: "photo.jpg", ContentType: "image/jpeg", SizeBytes: 123456,
				Owner: map[string]string{"application_id": "a2"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := env.server.CreateUpload(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("check", func(b *testing.B) {
		req := &policy.RuleRequest{Action: policy.ActionCreate, Category: "apps", Owner: map[string]string{"application_id": "a2"},
			Filename: "photo.jpg", Size: 123456, ContentType: "image/jpeg"}
		b.ReportAllocs()
		for b.Loop() {
			if err := env.server.checkAccess(ctx, p, ruled, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
