package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/auth/authtest"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

// newAuthEnv is a test env that also accepts JWTs from iss, verified
// through its JWKS URL on the env's clock.
func newAuthEnv(t testing.TB, auth0 AuthConfig, categories ...*policy.Category) (*testEnv, *authtest.Issuer) {
	t.Helper()
	iss := authtest.New(t)
	env := newTestEnvWith(t, envOptions{categories: categories, events: true, authFor: func(clock *testClock) AuthConfig {
		v, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{
			JWKSURL: iss.JWKSURL, Issuer: iss.Issuer, Audience: iss.Audience, Leeway: 5 * time.Second,
			CategoriesClaim: "categories", DisplayNameClaim: "preferred_username", Now: clock.now,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		auth0.JWT = v
		return auth0
	}})
	return env, iss
}

// readyFile uploads a small file for the caller of ctx and returns its id.
func readyFile(t *testing.T, env *testEnv, ctx context.Context) *presigndv1.File {
	t.Helper()
	body := []byte("hello")
	resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, resp.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload status %d", code)
	}
	done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: resp.GetFile().GetFileId()})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("complete: %v %v", done, err)
	}
	return done.GetFile()
}

// pendingMultipart starts a MULTIPART upload in the default category.
func pendingMultipart(t *testing.T, env *testEnv, ctx context.Context) *presigndv1.File {
	t.Helper()
	resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "m.bin", ContentType: "application/octet-stream", SizeBytes: 5,
		Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetFile()
}

// target is what an RPC of the matrix acts on: a file and an API key ID.
type target struct{ fileID, keyID, deliveryID string }

// rpcCase is one RPC of the matrix.
type rpcCase struct {
	method string
	// call performs the RPC on tgt.
	call func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error)
	// onResource: the RPC names a resource, so another tenant's is NotFound;
	// otherwise it acts on the caller's own tenant and must return none of
	// the other tenant's data.
	onResource bool
	// destructive: the RPC consumes its target, so each call gets a new one.
	destructive bool
	// multipart: the RPC needs a PENDING multipart upload of its own.
	multipart bool
}

// matrixBodyless is the category GetUploadTarget is called for in the
// matrices, without a storage limit so that every allowed call succeeds.
func matrixBodyless() *policy.Category {
	c := bodylessCategory()
	c.StorageLimit = 0
	return c
}

var matrixRPCs = []rpcCase{
	{presigndv1.FileService_CreateUpload_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "m.txt", ContentType: "text/plain", SizeBytes: 3})
	}, false, false, false},
	{presigndv1.FileService_GetUploadTarget_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.client.GetUploadTarget(ctx, &presigndv1.GetUploadTargetRequest{Category: "release_form"})
	}, false, false, false},
	{presigndv1.FileService_CompleteUpload_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: tgt.fileID})
	}, true, false, false},
	{presigndv1.FileService_GetFile_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: tgt.fileID})
	}, true, false, false},
	{presigndv1.FileService_ListFiles_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	}, false, false, false},
	{presigndv1.FileService_UpdateFile_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{
			File: &presigndv1.File{FileId: tgt.fileID, Metadata: map[string]string{"touched": "yes"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"metadata"}},
		})
	}, true, false, false},
	{presigndv1.FileService_DeleteFile_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: tgt.fileID})
	}, true, true, false},
	{presigndv1.FileService_CreateDownloadUrl_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: tgt.fileID})
	}, true, false, false},
	{presigndv1.FileService_CheckName_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.client.CheckName(ctx, &presigndv1.CheckNameRequest{DisplayName: "report"})
	}, false, false, false},
	{presigndv1.FileService_GetUsage_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{})
	}, false, false, false},
	{method: presigndv1.FileService_SignParts_FullMethodName, call: func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.SignParts(ctx, &presigndv1.SignPartsRequest{FileId: tgt.fileID, PartNumbers: []int32{1}})
	}, onResource: true, multipart: true},
	{method: presigndv1.FileService_ListParts_FullMethodName, call: func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: tgt.fileID})
	}, onResource: true, multipart: true},
	{method: presigndv1.FileService_AbortUpload_FullMethodName, call: func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.client.AbortUpload(ctx, &presigndv1.AbortUploadRequest{FileId: tgt.fileID})
	}, onResource: true, destructive: true, multipart: true},
	{presigndv1.AdminService_CreateApiKey_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.admin.CreateApiKey(ctx, &presigndv1.CreateApiKeyRequest{Scopes: []string{auth.ScopeRead}})
	}, false, false, false},
	{presigndv1.AdminService_ListApiKeys_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.admin.ListApiKeys(ctx, &presigndv1.ListApiKeysRequest{})
	}, false, false, false},
	{presigndv1.AdminService_RevokeApiKey_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.admin.RevokeApiKey(ctx, &presigndv1.RevokeApiKeyRequest{ApiKeyId: tgt.keyID})
	}, true, true, false},
	{presigndv1.AdminService_ListDeadLetters_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.admin.ListDeadLetters(ctx, &presigndv1.ListDeadLettersRequest{})
	}, false, false, false},
	{presigndv1.AdminService_RedeliverDeadLetter_FullMethodName, func(ctx context.Context, env *testEnv, tgt target) (proto.Message, error) {
		return env.admin.RedeliverDeadLetter(ctx, &presigndv1.RedeliverDeadLetterRequest{DeliveryId: tgt.deliveryID})
	}, true, false, false},
	{presigndv1.AdminService_AddDenyEntry_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.admin.AddDenyEntry(ctx, &presigndv1.AddDenyEntryRequest{Category: policy.DefaultCategory, Field: "customer_id", Value: fmt.Sprint("c", denyValues.Add(1))})
	}, false, false, false},
	// An entry of the caller's own, added as part of the call (the add
	// needs the same scope), so that each call has one to remove.
	{presigndv1.AdminService_RemoveDenyEntry_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		v := fmt.Sprint("r", denyValues.Add(1))
		env.admin.AddDenyEntry(ctx, &presigndv1.AddDenyEntryRequest{Category: policy.DefaultCategory, Field: "customer_id", Value: v})
		return env.admin.RemoveDenyEntry(ctx, &presigndv1.RemoveDenyEntryRequest{Category: policy.DefaultCategory, Field: "customer_id", Value: v})
	}, false, false, false},
	{presigndv1.AdminService_ListDenyEntries_FullMethodName, func(ctx context.Context, env *testEnv, _ target) (proto.Message, error) {
		return env.admin.ListDenyEntries(ctx, &presigndv1.ListDenyEntriesRequest{})
	}, false, false, false},
}

// denyValues makes each deny entry the matrix adds a new one.
var denyValues atomic.Int64

// deadLetterOf buries the events of the env's outbox and returns the id
// of one of tenant's dead deliveries.
func deadLetterOf(t *testing.T, env *testEnv, tenant string) string {
	t.Helper()
	buryAll(t, env)
	ds, _, err := env.store.ListDeadDeliveries(context.Background(), tenant, 0, 1)
	if err != nil || len(ds) == 0 {
		t.Fatalf("no dead delivery of %s: %v", tenant, err)
	}
	return strconv.FormatInt(ds[0].ID, 10)
}

func shortName(method string) string { return method[strings.LastIndex(method, "/")+1:] }

// allScopesBut returns every scope except one.
func allScopesBut(scope string) []string {
	var out []string
	for _, s := range auth.AllScopes {
		if s != scope {
			out = append(out, s)
		}
	}
	return out
}

// TestAuthMatrix calls every RPC with every kind of bad credential, with a
// credential that lacks the RPC's scope, and on another tenant's
// resources, and checks the code and that no data comes back.
func TestAuthMatrix(t *testing.T) {
	env, iss := newAuthEnv(t, AuthConfig{}, matrixBodyless())
	acme, globex := env.as("acme"), env.as("globex")
	globexFile := readyFile(t, env, globex)
	_, globexKeyID := env.addKeyWith(t, &store.APIKey{Tenant: "globex", Scopes: auth.AllScopes})
	acmeFile := readyFile(t, env, acme)
	acmeMultipart := pendingMultipart(t, env, acme)
	globexDelivery, acmeDelivery := deadLetterOf(t, env, "globex"), deadLetterOf(t, env, "acme")
	ownTarget := func(t *testing.T, rpc rpcCase) target {
		switch {
		case rpc.multipart && rpc.destructive:
			return target{fileID: pendingMultipart(t, env, acme).GetFileId()}
		case rpc.multipart:
			return target{fileID: acmeMultipart.GetFileId()}
		}
		if !rpc.destructive {
			return target{fileID: acmeFile.GetFileId(), keyID: "k-none", deliveryID: acmeDelivery}
		}
		_, id := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: []string{auth.ScopeRead}})
		return target{fileID: readyFile(t, env, acme).GetFileId(), keyID: id}
	}
	withKey := func(key string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	}
	withJWT := func(c authtest.Claims) context.Context {
		return withKey(iss.Sign(t, authtest.RSAKey, c))
	}
	revoked := env.addKey(t, "acme", time.Time{}, time.Now().Add(-time.Minute))
	expired := env.addKey(t, "acme", time.Now().Add(-time.Minute), time.Time{})
	good := iss.Sign(t, authtest.ECKey, iss.Valid("acme"))
	goodParts := strings.Split(good, ".")

	type credCase struct {
		name string
		ctx  func(rpc rpcCase) context.Context
		want codes.Code
		// otherTenant points the RPC at globex's resources.
		otherTenant bool
	}
	creds := []credCase{
		{"no credential", func(rpcCase) context.Context { return context.Background() }, codes.Unauthenticated, false},
		{"a wrong key", func(rpcCase) context.Context { return withKey("psk_" + strings.Repeat("q", 32)) }, codes.Unauthenticated, false},
		{"a revoked key", func(rpcCase) context.Context { return withKey(revoked) }, codes.Unauthenticated, false},
		{"an expired key", func(rpcCase) context.Context { return withKey(expired) }, codes.Unauthenticated, false},
		{"an expired token", func(rpcCase) context.Context {
			c := iss.Valid("acme")
			c.Expires = time.Now().Add(-time.Minute)
			return withJWT(c)
		}, codes.Unauthenticated, false},
		{"a token for another audience", func(rpcCase) context.Context {
			c := iss.Valid("acme")
			c.Audience = []string{"billing"}
			return withJWT(c)
		}, codes.Unauthenticated, false},
		{"a token of another issuer", func(rpcCase) context.Context {
			c := iss.Valid("acme")
			c.Issuer = "https://evil.test"
			return withJWT(c)
		}, codes.Unauthenticated, false},
		{"a token with a forged signature", func(rpcCase) context.Context {
			return withKey(goodParts[0] + "." + goodParts[1] + "." + flipChar(goodParts[2]))
		}, codes.Unauthenticated, false},
		{"a token whose tenant was rewritten", func(rpcCase) context.Context {
			other := strings.Split(iss.Sign(t, authtest.ECKey, iss.Valid("globex")), ".")
			return withKey(goodParts[0] + "." + other[1] + "." + goodParts[2])
		}, codes.Unauthenticated, false},
		{"a key missing the scope", func(rpc rpcCase) context.Context {
			key, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: allScopesBut(methodScopes[rpc.method])})
			return withKey(key)
		}, codes.PermissionDenied, false},
		{"a token missing the scope", func(rpc rpcCase) context.Context {
			c := iss.Valid("acme")
			c.Scope = allScopesBut(methodScopes[rpc.method])
			return withJWT(c)
		}, codes.PermissionDenied, false},
		{"a key of another tenant's resource", func(rpcCase) context.Context { return acme }, codes.NotFound, true},
		{"a token of another tenant's resource", func(rpcCase) context.Context { return withJWT(iss.Valid("acme")) }, codes.NotFound, true},
		{"a valid key", func(rpcCase) context.Context { return acme }, codes.OK, false},
		{"a valid token", func(rpcCase) context.Context { return withKey(good) }, codes.OK, false},
	}
	if len(matrixRPCs) != len(methodScopes) {
		t.Fatalf("%d RPCs in the matrix for %d methods", len(matrixRPCs), len(methodScopes))
	}
	for _, rpc := range matrixRPCs {
		for _, cred := range creds {
			t.Run(shortName(rpc.method)+" with "+cred.name, func(t *testing.T) {
				tgt := ownTarget(t, rpc)
				want := cred.want
				if cred.otherTenant {
					tgt = target{fileID: globexFile.GetFileId(), keyID: globexKeyID, deliveryID: globexDelivery}
					if !rpc.onResource {
						want = codes.OK
					}
				}
				resp, err := rpc.call(cred.ctx(rpc), env, tgt)
				if got := status.Code(err); got != want {
					t.Fatalf("code = %v (%v), want %v", got, err, want)
				}
				if err != nil {
					if resp != nil && !isNil(resp) {
						t.Fatalf("an error came with data: %v", resp)
					}
					return
				}
				if cred.otherTenant {
					b, _ := protojson.Marshal(resp)
					if bytes.Contains(b, []byte("globex")) || bytes.Contains(b, []byte(globexFile.GetFileId())) || bytes.Contains(b, []byte(globexKeyID)) {
						t.Fatalf("acme's call returned globex data: %s", b)
					}
				}
			})
		}
	}

	// Nothing acme did reached globex.
	got, err := env.client.GetFile(globex, &presigndv1.GetFileRequest{FileId: globexFile.GetFileId()})
	if err != nil || got.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY || len(got.GetFile().GetMetadata()) != 0 {
		t.Fatalf("globex's file changed: %v %v", got, err)
	}
	keys, err := env.admin.ListApiKeys(globex, &presigndv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.GetApiKeys() {
		if k.GetRevokeTime() != nil || k.GetTenant() != "globex" {
			t.Fatalf("globex's keys changed: %v", k)
		}
	}
	list, err := env.client.ListFiles(globex, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 1 {
		t.Fatalf("globex's files = %v, %v; want only its own one", list.GetFiles(), err)
	}
}

func isNil(m proto.Message) bool { return m == nil || !m.ProtoReflect().IsValid() }

// flipChar returns s with its middle character replaced by another one of
// the base64url alphabet (never the last one, whose low bits may be
// padding a decoder ignores).
func flipChar(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestAuthMatrixOverREST runs the credential checks of the matrix through
// the gateway: the same interceptor decides, with the HTTP codes of the
// gRPC ones.
func TestAuthMatrixOverREST(t *testing.T) {
	env, _ := newAuthEnv(t, AuthConfig{}, matrixBodyless())
	globexFile := readyFile(t, env, env.as("globex"))
	_, globexKeyID := env.addKeyWith(t, &store.APIKey{Tenant: "globex", Scopes: auth.AllScopes})
	fid := globexFile.GetFileId()
	globexDelivery := deadLetterOf(t, env, "globex")
	routes := []struct {
		method, verb, path, body string
	}{
		{presigndv1.FileService_CreateUpload_FullMethodName, "POST", "/v1/uploads", `{"filename":"a.txt","content_type":"text/plain","size_bytes":3}`},
		{presigndv1.FileService_GetUploadTarget_FullMethodName, "GET", "/v1/categories/release_form/upload-target", ``},
		{presigndv1.FileService_CompleteUpload_FullMethodName, "POST", "/v1/files/" + fid + ":complete", `{}`},
		{presigndv1.FileService_GetFile_FullMethodName, "GET", "/v1/files/" + fid, ``},
		{presigndv1.FileService_ListFiles_FullMethodName, "GET", "/v1/files", ``},
		{presigndv1.FileService_UpdateFile_FullMethodName, "PATCH", "/v1/files/" + fid + "?update_mask=metadata", `{"metadata":{"a":"b"}}`},
		{presigndv1.FileService_DeleteFile_FullMethodName, "DELETE", "/v1/files/" + fid, ``},
		{presigndv1.FileService_CreateDownloadUrl_FullMethodName, "POST", "/v1/files/" + fid + ":download", `{}`},
		{presigndv1.FileService_CheckName_FullMethodName, "POST", "/v1/uploads:checkName", `{"display_name":"x"}`},
		{presigndv1.FileService_GetUsage_FullMethodName, "GET", "/v1/usage", ``},
		{presigndv1.FileService_SignParts_FullMethodName, "POST", "/v1/files/" + fid + "/parts:sign", `{"part_numbers":[1]}`},
		{presigndv1.FileService_ListParts_FullMethodName, "GET", "/v1/files/" + fid + "/parts", ``},
		{presigndv1.FileService_AbortUpload_FullMethodName, "POST", "/v1/files/" + fid + ":abort", `{}`},
		{presigndv1.AdminService_CreateApiKey_FullMethodName, "POST", "/v1/admin/apiKeys", `{"scopes":["files:read"]}`},
		{presigndv1.AdminService_ListApiKeys_FullMethodName, "GET", "/v1/admin/apiKeys", ``},
		{presigndv1.AdminService_RevokeApiKey_FullMethodName, "POST", "/v1/admin/apiKeys/" + globexKeyID + ":revoke", `{}`},
		{presigndv1.AdminService_ListDeadLetters_FullMethodName, "GET", "/v1/admin/deadLetters", ``},
		{presigndv1.AdminService_RedeliverDeadLetter_FullMethodName, "POST", "/v1/admin/deadLetters/" + globexDelivery + ":redeliver", `{}`},
		{presigndv1.AdminService_AddDenyEntry_FullMethodName, "POST", "/v1/admin/denyEntries", `{"category":"default","field":"customer_id","value":"c1"}`},
		{presigndv1.AdminService_RemoveDenyEntry_FullMethodName, "POST", "/v1/admin/denyEntries:remove", `{"category":"default","field":"customer_id","value":"c1"}`},
		{presigndv1.AdminService_ListDenyEntries_FullMethodName, "GET", "/v1/admin/denyEntries", ``},
	}
	if len(routes) != len(methodScopes) {
		t.Fatalf("%d REST routes for %d methods", len(routes), len(methodScopes))
	}
	for _, r := range routes {
		noScope, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: allScopesBut(methodScopes[r.method])})
		for _, c := range []struct {
			name    string
			headers map[string]string
			want    int
		}{
			{"no credential", nil, http.StatusUnauthorized},
			{"a wrong x-api-key", map[string]string{"X-Api-Key": "psk_wrong"}, http.StatusUnauthorized},
			{"a key missing the scope", map[string]string{"X-Api-Key": noScope}, http.StatusForbidden},
		} {
			t.Run(shortName(r.method)+" with "+c.name, func(t *testing.T) {
				if code, body := restCall(t, env, r.verb, r.path, r.body, c.headers); code != c.want {
					t.Fatalf("status %d (%s), want %d", code, body, c.want)
				}
			})
		}
		if strings.Contains(r.path, fid) || strings.Contains(r.path, globexKeyID) || strings.Contains(r.path, "/"+globexDelivery+":") {
			t.Run(shortName(r.method)+" on another tenant's resource", func(t *testing.T) {
				code, body := restCall(t, env, r.verb, r.path, r.body, map[string]string{"Authorization": "Bearer " + env.keys["acme"]})
				if code != http.StatusNotFound || strings.Contains(body, "globex") {
					t.Fatalf("status %d (%s), want 404 without globex data", code, body)
				}
			})
		}
	}
}

func restCall(t *testing.T, env *testEnv, verb, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(verb, env.restURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEveryMethodHasAScope fails when a method of a presignd service has no
// entry in methodScopes, or the table names a method that does not exist.
func TestEveryMethodHasAScope(t *testing.T) {
	seen := map[string]bool{}
	for _, sd := range []struct {
		name    string
		methods []string
	}{
		{presigndv1.FileService_ServiceDesc.ServiceName, methodNames(presigndv1.FileService_ServiceDesc.Methods)},
		{presigndv1.AdminService_ServiceDesc.ServiceName, methodNames(presigndv1.AdminService_ServiceDesc.Methods)},
	} {
		for _, m := range sd.methods {
			full := "/" + sd.name + "/" + m
			seen[full] = true
			scope, ok := methodScopes[full]
			if !ok {
				t.Errorf("%s has no required scope in methodScopes", full)
			} else if !auth.ValidScope(scope) {
				t.Errorf("%s requires unknown scope %q", full, scope)
			}
		}
	}
	for m := range methodScopes {
		if !seen[m] {
			t.Errorf("methodScopes names %s, which no service has", m)
		}
	}
	if len(presigndv1.FileService_ServiceDesc.Streams)+len(presigndv1.AdminService_ServiceDesc.Streams) != 0 {
		t.Error("streaming methods need a stream interceptor for auth")
	}
}

func methodNames(ms []grpc.MethodDesc) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MethodName
	}
	return out
}

func TestCreateUploadIsRateLimitedPerTenant(t *testing.T) {
	env := newTestEnvWith(t, envOptions{auth: AuthConfig{CreateUploadPerSecond: 0.01, CreateUploadBurst: 2}})
	req := &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3}
	for i := range 2 {
		if _, err := env.client.CreateUpload(env.as("acme"), req); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err := env.client.CreateUpload(env.as("acme"), req)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("over the burst: %v, want ResourceExhausted", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 || retry.GetRetryDelay().AsDuration() > 100*time.Second {
		t.Fatalf("RetryInfo = %v, want a delay of up to 100s", retry)
	}
	if _, err := env.client.CreateUpload(env.as("globex"), req); err != nil {
		t.Fatalf("another tenant is not limited by acme's calls: %v", err)
	}
	if _, err := env.client.ListFiles(env.as("acme"), &presigndv1.ListFilesRequest{}); err != nil {
		t.Fatalf("other RPCs are not limited: %v", err)
	}
	code, body := restCall(t, env, "POST", "/v1/uploads", `{"filename":"a.txt","content_type":"text/plain","size_bytes":3}`, map[string]string{"X-Api-Key": env.keys["acme"]})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "RetryInfo") {
		t.Fatalf("REST over the limit: %d %s", code, body)
	}
	// REST clients also get the hint as a Retry-After header.
	httpReq, _ := http.NewRequest("POST", env.restURL+"/v1/uploads", strings.NewReader(`{"filename":"a.txt","content_type":"text/plain","size_bytes":3}`))
	httpReq.Header.Set("X-Api-Key", env.keys["acme"])
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 100 {
		t.Fatalf("REST over the limit: %d with Retry-After %q, want 429 with 1-100 seconds", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestAdminManagesKeysOfItsOwnTenant(t *testing.T) {
	env := newTestEnvWith(t, envOptions{auth: AuthConfig{KeyCacheTTL: 10 * time.Second}})
	admin := env.as("acme")
	created, err := env.admin.CreateApiKey(admin, &presigndv1.CreateApiKeyRequest{
		Scopes: []string{auth.ScopeRead}, Categories: []string{"default"}, Ttl: durationpb.New(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	k := created.GetApiKey()
	if !strings.HasPrefix(created.GetSecret(), auth.APIKeyPrefix) || k.GetTenant() != "acme" || k.GetPrefix() != created.GetSecret()[:12] || k.GetExpireTime() == nil {
		t.Fatalf("created %v", created)
	}
	reader := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", created.GetSecret())
	if _, err := env.client.ListFiles(reader, &presigndv1.ListFilesRequest{Category: "default"}); err != nil {
		t.Fatalf("the new key cannot read: %v", err)
	}
	_, err = env.client.CreateUpload(reader, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3})
	wantCode(t, err, codes.PermissionDenied)
	_, err = env.admin.ListApiKeys(reader, &presigndv1.ListApiKeysRequest{})
	wantCode(t, err, codes.PermissionDenied)

	list, err := env.admin.ListApiKeys(admin, &presigndv1.ListApiKeysRequest{PageSize: 1})
	if err != nil || len(list.GetApiKeys()) != 1 || list.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", list, err)
	}
	rest, err := env.admin.ListApiKeys(admin, &presigndv1.ListApiKeysRequest{PageToken: list.GetNextPageToken()})
	if err != nil || len(rest.GetApiKeys()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", rest, err)
	}
	b, _ := protojson.Marshal(list)
	b2, _ := protojson.Marshal(rest)
	if bytes.Contains(append(b, b2...), []byte(created.GetSecret()[12:])) {
		t.Fatal("a list shows a secret")
	}
	_, err = env.admin.ListApiKeys(env.as("globex"), &presigndv1.ListApiKeysRequest{PageToken: list.GetNextPageToken()})
	wantCode(t, err, codes.InvalidArgument)

	revoked, err := env.admin.RevokeApiKey(admin, &presigndv1.RevokeApiKeyRequest{ApiKeyId: k.GetApiKeyId()})
	if err != nil || revoked.GetApiKey().GetRevokeTime() == nil {
		t.Fatalf("revoke: %v %v", revoked, err)
	}
	// The key was cached by the calls above; revoking through this server
	// refuses it at once, not after the cache TTL.
	_, err = env.client.ListFiles(reader, &presigndv1.ListFilesRequest{Category: "default"})
	wantCode(t, err, codes.Unauthenticated)

	t.Run("a caller cannot grant a scope it lacks", func(t *testing.T) {
		limited, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: []string{auth.ScopeAdmin, auth.ScopeRead}})
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", limited)
		_, err := env.admin.CreateApiKey(ctx, &presigndv1.CreateApiKeyRequest{Scopes: []string{auth.ScopeDelete}})
		wantCode(t, err, codes.PermissionDenied)
	})
	t.Run("a category-limited caller cannot grant other categories", func(t *testing.T) {
		limited, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes, Categories: []string{"docs"}})
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", limited)
		for _, cats := range [][]string{nil, {"default"}} {
			_, err := env.admin.CreateApiKey(ctx, &presigndv1.CreateApiKeyRequest{Scopes: []string{auth.ScopeRead}, Categories: cats})
			wantCode(t, err, codes.PermissionDenied)
		}
	})
	t.Run("bad requests name the field", func(t *testing.T) {
		for _, req := range []*presigndv1.CreateApiKeyRequest{
			{},
			{Scopes: []string{"root"}},
			{Scopes: []string{auth.ScopeRead}, Ttl: durationpb.New(time.Second)},
			{Scopes: []string{auth.ScopeRead}, Categories: []string{"../x"}},
		} {
			_, err := env.admin.CreateApiKey(admin, req)
			if len(violations(t, err)) == 0 {
				t.Errorf("%v: no field violations", req)
			}
		}
	})
}

func TestCategoryLimitedCredentials(t *testing.T) {
	docs := policy.Default("local")
	docs.Name = "docs"
	env, iss := newAuthEnv(t, AuthConfig{}, docs)
	full := env.as("acme")
	other := readyFile(t, env, full) // in the default category
	key, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes, Categories: []string{"docs"}})
	c := iss.Valid("acme")
	c.Categories = []string{"docs"}
	for name, ctx := range map[string]context.Context{
		"an API key": metadata.AppendToOutgoingContext(context.Background(), "x-api-key", key),
		"a JWT":      metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+iss.Sign(t, authtest.RSAKey, c)),
	} {
		t.Run(name+" limited to docs", func(t *testing.T) {
			up := &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3}
			_, err := env.client.CreateUpload(ctx, up)
			wantCode(t, err, codes.PermissionDenied)
			up.Category = "docs"
			created, err := env.client.CreateUpload(ctx, up)
			if err != nil {
				t.Fatalf("upload to docs: %v", err)
			}
			if _, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: created.GetFile().GetFileId()}); err != nil {
				t.Fatalf("reading its own docs file: %v", err)
			}
			for _, ref := range []string{other.GetFileId(), other.GetSignedId()} {
				_, err = env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: ref})
				wantCode(t, err, codes.NotFound)
				_, err = env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: ref})
				wantCode(t, err, codes.NotFound)
			}
			_, err = env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
			wantCode(t, err, codes.PermissionDenied)
			list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{Category: "docs"})
			if err != nil || len(list.GetFiles()) == 0 {
				t.Fatalf("listing docs: %v %v", list, err)
			}
			_, err = env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{Category: policy.DefaultCategory})
			wantCode(t, err, codes.PermissionDenied)
		})
	}
	if _, err := env.client.GetFile(full, &presigndv1.GetFileRequest{FileId: other.GetFileId()}); err != nil {
		t.Fatalf("the default-category file is gone: %v", err)
	}
}

// TestInterceptorSeesCredentialKind checks the Principal a handler gets
// for each credential kind, which is what category policies look at.
func TestInterceptorSeesCredentialKind(t *testing.T) {
	env, iss := newAuthEnv(t, AuthConfig{})
	for kind, md := range map[string]metadata.MD{
		auth.KindAPIKey: metadata.Pairs("x-api-key", env.keys["acme"]),
		auth.KindJWT:    metadata.Pairs("authorization", "Bearer "+iss.Sign(t, authtest.RSAKey, iss.Valid("acme"))),
	} {
		var got auth.Principal
		_, err := env.server.authInterceptor(metadata.NewIncomingContext(context.Background(), md), &presigndv1.GetUsageRequest{},
			&grpc.UnaryServerInfo{FullMethod: presigndv1.FileService_GetUsage_FullMethodName}, func(ctx context.Context, _ any) (any, error) {
				got, _ = principalFrom(ctx)
				return nil, nil
			})
		if err != nil || got.Kind != kind || got.Tenant != "acme" {
			t.Errorf("%s: principal %+v, %v", kind, got, err)
		}
	}
	_, err := env.server.authInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/presignd.v1.FileService/NotInTheTable"},
		func(context.Context, any) (any, error) { t.Fatal("a method without scope ran"); return nil, nil })
	if !errors.Is(err, errPermission) {
		t.Fatalf("a method without scope: %v", err)
	}
}

// TestSignedIDs covers tampering, truncation, cross-tenant replay and key
// rotation of signed ids.
func TestSignedIDs(t *testing.T) {
	oldSecret := testSecret
	v1, err := newSignedIDs(oldSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "0190c5a0-0000-7000-8000-000000000001"
	ref := v1.make("acme", id)
	if !strings.HasPrefix(ref, "sid1.") {
		t.Fatalf("ref = %q", ref)
	}
	newSecret := []byte("fedcba9876543210fedcba9876543210-new")
	rotated, err := newSignedIDs(oldSecret, []SignedIDKey{{Version: 2, Secret: newSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ref2 := rotated.make("acme", id)
	parts := strings.Split(ref, ".")
	tests := []struct {
		name string
		ids  signedIDs
		ref  string
		ok   bool
	}{
		{"an id resolves for its tenant", v1, ref, true},
		{"an old id resolves after rotation", rotated, ref, true},
		{"a new id uses the new version and resolves", rotated, ref2, strings.HasPrefix(ref2, "sid2.")},
		{"a new id does not resolve where its version is unknown", v1, ref2, false},
		{"an id of a removed version does not resolve", mustSignedIDs(t, newSecret, nil), ref, false},
		{"another file id under the same MAC is refused", v1, parts[0] + ".0190c5a0-0000-7000-8000-000000000002." + parts[2], false},
		{"a changed MAC is refused", v1, parts[0] + "." + parts[1] + "." + flipChar(parts[2]), false},
		{"a truncated MAC is refused", v1, ref[:len(ref)-1], false},
		{"an empty MAC is refused", v1, parts[0] + "." + parts[1] + ".", false},
		{"a relabelled version is refused", rotated, "sid2." + parts[1] + "." + parts[2], false},
		{"a zero-padded version is refused", v1, "sid01." + parts[1] + "." + parts[2], false},
		{"an extra part is refused", v1, ref + ".x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.ids.resolve("acme", tt.ref)
			if ok != tt.ok || (ok && got != id) {
				t.Fatalf("resolve(%q) = %q, %v; want ok=%v", tt.ref, got, ok, tt.ok)
			}
		})
	}
	t.Run("another tenant replaying an id gets nothing", func(t *testing.T) {
		if _, ok := rotated.resolve("globex", ref); ok {
			t.Fatal("globex resolved acme's id")
		}
	})
	t.Run("over the API, a tampered or replayed id is NotFound", func(t *testing.T) {
		env := newTestEnv(t)
		f := readyFile(t, env, env.as("acme"))
		got, err := env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: f.GetSignedId()})
		if err != nil || got.GetFile().GetFileId() != f.GetFileId() {
			t.Fatalf("GetFile by signed id: %v %v", got, err)
		}
		for _, c := range []struct {
			ctx context.Context
			ref string
		}{
			{env.as("globex"), f.GetSignedId()},
			{env.as("acme"), f.GetSignedId()[:len(f.GetSignedId())-2]},
			{env.as("acme"), strings.Replace(f.GetSignedId(), "sid1.", "sid2.", 1)},
		} {
			_, err := env.client.GetFile(c.ctx, &presigndv1.GetFileRequest{FileId: c.ref})
			wantCode(t, err, codes.NotFound)
		}
	})
}

func mustSignedIDs(t *testing.T, secret []byte, extra []SignedIDKey) signedIDs {
	t.Helper()
	s, err := newSignedIDs(secret, extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzSignedIDAndPageToken checks that no input makes signed-id or page
// token parsing panic, and that only genuine ones are accepted.
func FuzzSignedIDAndPageToken(f *testing.F) {
	ids := mustSignedIDs(&testing.T{}, testSecret, []SignedIDKey{{Version: 3, Secret: testSecret}})
	pt := pageTokens{key: DeriveKey(testSecret, "page-token")}
	genuine := ids.make("acme", "file-1")
	tok := pt.make("acme", "f", store.Cursor{CreatedAt: time.Unix(1, 0), ID: "file-1"})
	for _, s := range []string{genuine, tok, "sid1.x.y", "sid9999..", "sid.", "", "...", genuine[:len(genuine)-1]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := ids.resolve("acme", s); ok && s != genuine {
			// Another version may also sign file-1; anything else is a forgery.
			if id != "file-1" {
				t.Fatalf("%q resolved to %q", s, id)
			}
		}
		if _, err := pt.parse("acme", "f", s); err == nil && s != tok {
			t.Fatalf("%q parsed as a page token", s)
		}
		_ = isSignedID(s)
	})
}

func ExampleSignedIDKey() {
	ids, _ := newSignedIDs([]byte("0123456789abcdef0123456789abcdef-old"), []SignedIDKey{{Version: 2, Secret: []byte("0123456789abcdef0123456789abcdef-new")}})
	fmt.Println(strings.SplitN(ids.make("acme", "f1"), ".", 2)[0])
	// Output: sid2
}

// TestAdminKeyCannotOutliveItsCreator: issue 18 defect 5. An admin key
// expiring in an hour, or a 60-second admin JWT, created keys with no
// expiry that survived the parent's revocation. A key's expiry is capped by
// its creator's (unset ttl: it expires with it; a longer ttl: refused, on
// the field), it records its creator, and it is revoked with its parent.
func TestAdminKeyCannotOutliveItsCreator(t *testing.T) {
	env, iss := newAuthEnv(t, AuthConfig{KeyCacheTTL: 10 * time.Second})
	now := env.clock.now()
	hourKey, hourKeyID := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes, ExpiresAt: now.Add(time.Hour)})
	foreverKey, foreverKeyID := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes})
	jwtClaims := iss.Valid("acme")
	jwtClaims.Expires = now.Add(time.Minute).Truncate(time.Second)
	jwt := iss.Sign(t, authtest.RSAKey, jwtClaims)
	withKey := func(secret string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "x-api-key", secret)
	}
	withJWT := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+jwt)

	tests := []struct {
		name       string
		ctx        context.Context
		ttl        time.Duration
		wantExpiry time.Time // zero: never
		wantField  string    // a refused request's violated field
		parentID   string
		issuer     string
	}{
		{"a key made by a key expiring in an hour, without ttl, expires with it", withKey(hourKey), 0, now.Add(time.Hour), "", hourKeyID, ""},
		{"a key made by a key expiring in an hour may ask for less", withKey(hourKey), 30 * time.Minute, now.Add(30 * time.Minute), "", hourKeyID, ""},
		{"a key made by a key expiring in an hour may not ask for two", withKey(hourKey), 2 * time.Hour, time.Time{}, "ttl", "", ""},
		{"a key made by a key that never expires, without ttl, never expires", withKey(foreverKey), 0, time.Time{}, "", foreverKeyID, ""},
		{"a key made by a 60-second JWT, without ttl, expires with the JWT", withJWT, 0, jwtClaims.Expires, "", "", iss.Issuer},
		{"a key made by a 60-second JWT may not ask for an hour", withJWT, time.Hour, time.Time{}, "ttl", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &presigndv1.CreateApiKeyRequest{Scopes: []string{auth.ScopeAdmin, auth.ScopeRead}}
			if tt.ttl > 0 {
				req.Ttl = durationpb.New(tt.ttl)
			}
			resp, err := env.admin.CreateApiKey(tt.ctx, req)
			if tt.wantField != "" {
				wantCode(t, err, codes.InvalidArgument)
				if got := violations(t, err); len(got) != 1 || got[0] != tt.wantField {
					t.Fatalf("violations %v, want [%s]", got, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := resp.GetApiKey()
			got := time.Time{}
			if k.GetExpireTime() != nil {
				got = k.GetExpireTime().AsTime()
			}
			if tt.wantExpiry.IsZero() != got.IsZero() || got.Sub(tt.wantExpiry).Abs() > time.Second {
				t.Errorf("expire_time = %v, want %v", got, tt.wantExpiry)
			}
			if creator := map[string]time.Time{hourKeyID: now.Add(time.Hour), "": jwtClaims.Expires}[tt.parentID]; got.After(creator) {
				t.Errorf("expire_time = %v, after its creator's expiry %v", got, creator)
			}
			if k.GetParentApiKeyId() != tt.parentID || k.GetCreatorIssuer() != tt.issuer || (tt.issuer != "" && k.GetCreatorSubject() != "user-1") {
				t.Errorf("creator = {%q %q %q}, want {%q %q user-1}", k.GetParentApiKeyId(), k.GetCreatorIssuer(), k.GetCreatorSubject(), tt.parentID, tt.issuer)
			}
			stored, err := env.store.GetAPIKeyByHash(t.Context(), auth.HashAPIKey(resp.GetSecret()))
			if err != nil || !stored.ExpiresAt.Equal(got) {
				t.Errorf("stored expiry %v, %v; the response said %v", stored.ExpiresAt, err, got)
			}
		})
	}

	t.Run("a JWT past its exp but within the leeway cannot create keys", func(t *testing.T) {
		c := iss.Valid("acme")
		c.Expires = env.clock.now().Add(-2 * time.Second) // the env's leeway is 5s
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+iss.Sign(t, authtest.RSAKey, c))
		if _, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{}); err != nil {
			t.Fatalf("the token is still accepted within the leeway: %v", err)
		}
		_, err := env.admin.CreateApiKey(ctx, &presigndv1.CreateApiKeyRequest{Scopes: []string{auth.ScopeRead}})
		wantCode(t, err, codes.PermissionDenied)
	})

	t.Run("revoking a key refuses the keys it created, and theirs, at once", func(t *testing.T) {
		root, rootID := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes})
		bystander, _ := env.addKeyWith(t, &store.APIKey{Tenant: "acme", Scopes: auth.AllScopes})
		create := func(ctx context.Context) string {
			t.Helper()
			resp, err := env.admin.CreateApiKey(ctx, &presigndv1.CreateApiKeyRequest{Scopes: auth.AllScopes})
			if err != nil {
				t.Fatal(err)
			}
			return resp.GetSecret()
		}
		child := create(withKey(root))
		grandchild := create(withKey(child))
		list := func(secret string) error {
			_, err := env.client.ListFiles(withKey(secret), &presigndv1.ListFilesRequest{})
			return err
		}
		for _, k := range []string{root, child, grandchild, bystander} {
			if err := list(k); err != nil { // and now each is cached
				t.Fatal(err)
			}
		}
		if _, err := env.admin.RevokeApiKey(env.as("acme"), &presigndv1.RevokeApiKeyRequest{ApiKeyId: rootID}); err != nil {
			t.Fatal(err)
		}
		for name, k := range map[string]string{"the revoked key": root, "its child": child, "its grandchild": grandchild} {
			if err := list(k); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: %v, want Unauthenticated", name, err)
			}
		}
		if err := list(bystander); err != nil {
			t.Errorf("an unrelated key of the tenant: %v", err)
		}
	})
}
