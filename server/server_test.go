package server

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
)

func sha256Checksum(b []byte) *presigndv1.Checksum {
	sum := sha256.Sum256(b)
	return &presigndv1.Checksum{Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, Value: base64.StdEncoding.EncodeToString(sum[:])}
}

// violations returns the sorted field names of an InvalidArgument error.
func violations(t *testing.T, err error) []string {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("error = %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField())
			}
		}
	}
	sort.Strings(fields)
	return fields
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func targetOf(t testing.TB, pt *presigndv1.UploadTarget) signer.UploadTarget {
	t.Helper()
	method := http.MethodPut
	if pt.GetMethod() == presigndv1.UploadMethod_UPLOAD_METHOD_POST {
		method = http.MethodPost
	}
	return signer.UploadTarget{Method: method, URL: pt.GetUrl(), Headers: pt.GetHeaders(), FormFields: pt.GetFormFields()}
}

func sendUpload(t *testing.T, target signer.UploadTarget, body []byte) int {
	t.Helper()
	resp, err := signertest.Upload(context.Background(), http.DefaultClient, target, body)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestCreateUploadRefusesBadInput(t *testing.T) {
	env := newTestEnv(t, &policy.Category{
		Name: "pdf", Backend: "local", Key: policy.MustParseKeyTemplate("{tenant}/{owner.customer_id}/{uuid}{ext}"),
		ContentTypes: []string{"application/pdf"}, MaxSize: 100, URLTTL: time.Minute, Method: policy.MethodPut, RequireChecksum: signer.SHA256,
	})
	ctx := env.as("acme")
	valid := func() *presigndv1.CreateUploadRequest {
		return &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 10}
	}
	tests := []struct {
		name   string
		mutate func(r *presigndv1.CreateUploadRequest)
		fields []string
	}{
		{"an empty filename", func(r *presigndv1.CreateUploadRequest) { r.Filename = "" }, []string{"filename"}},
		{"a missing content type", func(r *presigndv1.CreateUploadRequest) { r.ContentType = "" }, []string{"content_type"}},
		{"a content type that is not type/subtype", func(r *presigndv1.CreateUploadRequest) { r.ContentType = "text plain" }, []string{"content_type"}},
		{"a zero size", func(r *presigndv1.CreateUploadRequest) { r.SizeBytes = 0 }, []string{"size_bytes"}},
		{"a negative size", func(r *presigndv1.CreateUploadRequest) { r.SizeBytes = -5 }, []string{"size_bytes"}},
		{"an unknown category", func(r *presigndv1.CreateUploadRequest) { r.Category = "nope" }, []string{"category"}},
		{"a category name with odd characters", func(r *presigndv1.CreateUploadRequest) { r.Category = "../x" }, []string{"category"}},
		{"several bad fields at once", func(r *presigndv1.CreateUploadRequest) { r.Filename, r.SizeBytes = "", -1 }, []string{"filename", "size_bytes"}},
		{"a checksum without algorithm", func(r *presigndv1.CreateUploadRequest) {
			r.Checksum = &presigndv1.Checksum{Value: "AAAA"}
		}, []string{"checksum.algorithm"}},
		{"a checksum that is not base64", func(r *presigndv1.CreateUploadRequest) {
			r.Checksum = &presigndv1.Checksum{Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5, Value: "!!!"}
		}, []string{"checksum.value"}},
		{"a checksum of the wrong length", func(r *presigndv1.CreateUploadRequest) {
			r.Checksum = &presigndv1.Checksum{Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, Value: "AAAA"}
		}, []string{"checksum.value"}},
		{"an undefined method", func(r *presigndv1.CreateUploadRequest) { r.Method = 9 }, []string{"method"}},
		{"an owner key with capitals", func(r *presigndv1.CreateUploadRequest) { r.Owner = map[string]string{"Customer": "x"} }, []string{`owner["Customer"]`}},
		{"a request id with spaces", func(r *presigndv1.CreateUploadRequest) { r.RequestId = "a b" }, []string{"request_id"}},
		{"a display name of spaces", func(r *presigndv1.CreateUploadRequest) { r.DisplayName = "   " }, []string{"display_name"}},
		{"a type the category refuses", func(r *presigndv1.CreateUploadRequest) {
			r.Category, r.Owner, r.Checksum = "pdf", map[string]string{"customer_id": "c1"}, sha256Checksum(nil)
		}, []string{"content_type"}},
		{"more than the category allows", func(r *presigndv1.CreateUploadRequest) {
			r.Category, r.ContentType, r.SizeBytes, r.Owner, r.Checksum = "pdf", "application/pdf", 101, map[string]string{"customer_id": "c1"}, sha256Checksum(nil)
		}, []string{"size_bytes"}},
		{"no checksum where the category requires one", func(r *presigndv1.CreateUploadRequest) {
			r.Category, r.ContentType, r.Owner = "pdf", "application/pdf", map[string]string{"customer_id": "c1"}
		}, []string{"checksum"}},
		{"a missing owner field the key needs", func(r *presigndv1.CreateUploadRequest) {
			r.Category, r.ContentType, r.Checksum = "pdf", "application/pdf", sha256Checksum(nil)
		}, []string{"owner.customer_id"}},
		{"a traversal attempt in an owner field", func(r *presigndv1.CreateUploadRequest) {
			r.Category, r.ContentType, r.Checksum, r.Owner = "pdf", "application/pdf", sha256Checksum(nil), map[string]string{"customer_id": ".."}
		}, []string{"owner.customer_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := valid()
			tt.mutate(req)
			_, err := env.client.CreateUpload(ctx, req)
			if got := violations(t, err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("violated fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 0 {
		t.Fatalf("refused requests left records behind: %v %v", list.GetFiles(), err)
	}
}

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t)
	revoked := env.addKey(t, "acme", time.Time{}, time.Now().Add(-time.Minute))
	expired := env.addKey(t, "acme", time.Now().Add(-time.Second), time.Time{})
	req := &presigndv1.GetUsageRequest{}
	tests := []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"no credential", nil, codes.Unauthenticated},
		{"an unknown key", []string{"authorization", "Bearer psk_nope"}, codes.Unauthenticated},
		{"a scheme other than Bearer", []string{"authorization", "Basic " + env.keys["acme"]}, codes.Unauthenticated},
		{"an empty bearer token", []string{"authorization", "Bearer "}, codes.Unauthenticated},
		{"a revoked key", []string{"authorization", "Bearer " + revoked}, codes.Unauthenticated},
		{"an expired key", []string{"x-api-key", expired}, codes.Unauthenticated},
		{"a valid key as bearer", []string{"authorization", "Bearer " + env.keys["acme"]}, codes.OK},
		{"a valid key as x-api-key", []string{"x-api-key", env.keys["acme"]}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), tt.md...)
			_, err := env.client.GetUsage(ctx, req)
			wantCode(t, err, tt.want)
		})
	}
}

// createReady uploads body as tenant and completes it.
func (e *testEnv) createReady(t *testing.T, tenant string, name string, body []byte) *presigndv1.File {
	t.Helper()
	ctx := e.as(tenant)
	created, err := e.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: name, ContentType: "text/plain", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	done, err := e.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
	if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
		t.Fatalf("complete: %v %v", done, err)
	}
	return done.GetFile()
}

func TestTenantsCannotReachEachOthersFiles(t *testing.T) {
	env := newTestEnv(t)
	theirs := env.createReady(t, "acme", "secret.txt", []byte("acme's secret"))
	ctx := env.as("globex")
	id := theirs.GetFileId()
	calls := map[string]func() error{
		"GetFile": func() error { _, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: id}); return err },
		"GetFile by signed id": func() error {
			_, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: theirs.GetSignedId()})
			return err
		},
		"CompleteUpload": func() error {
			_, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
			return err
		},
		"UpdateFile": func() error {
			_, err := env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{File: &presigndv1.File{FileId: id, DisplayName: "mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
			return err
		},
		"DeleteFile": func() error {
			_, err := env.client.DeleteFile(ctx, &presigndv1.DeleteFileRequest{FileId: id})
			return err
		},
		"CreateDownloadUrl": func() error {
			_, err := env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), codes.NotFound) })
	}
	list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 0 {
		t.Fatalf("globex lists %v (%v)", list.GetFiles(), err)
	}
	usage, err := env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{})
	if err != nil || usage.GetFileCount() != 0 {
		t.Fatalf("globex usage %v (%v)", usage, err)
	}
	// The owner still has it, untouched.
	got, err := env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: id})
	if err != nil || got.GetFile().GetDisplayName() != "secret.txt" {
		t.Fatalf("owner's file changed: %v %v", got, err)
	}
}

func TestSignedIDTampering(t *testing.T) {
	env := newTestEnv(t)
	f := env.createReady(t, "acme", "a.txt", []byte("a"))
	sid := f.GetSignedId()
	other := env.createReady(t, "acme", "b.txt", []byte("b"))
	parts := strings.Split(sid, ".")
	tests := map[string]string{
		"a flipped MAC character": parts[0] + "." + parts[1] + "." + flipChar(parts[2]),
		"a truncated MAC":         sid[:len(sid)-4],
		"another file's id":       parts[0] + "." + other.GetFileId() + "." + parts[2],
		"an unknown version":      "sid9." + parts[1] + "." + parts[2],
		"no MAC":                  parts[0] + "." + parts[1],
		"an extra segment":        sid + ".x",
	}
	for name, ref := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: ref})
			wantCode(t, err, codes.NotFound)
		})
	}
}

func TestUploadsThatBreakTheTargetLeaveNoReadyFile(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	body := []byte("exactly these bytes")
	tests := []struct {
		name       string
		clock      time.Duration
		send       func(target signer.UploadTarget) int
		wantStatus int
	}{
		{"a tampered signature", 0, func(tg signer.UploadTarget) int {
			u, _ := url.Parse(tg.URL)
			q := u.Query()
			sig := q.Get("signature")
			q.Set("signature", strings.ToUpper(sig[:1])+strings.ToLower(sig[:1])+sig[2:])
			u.RawQuery = q.Encode()
			tg.URL = u.String()
			return sendUpload(t, tg, body)
		}, http.StatusForbidden},
		{"a target that expired", -time.Hour, func(tg signer.UploadTarget) int { return sendUpload(t, tg, body) }, http.StatusForbidden},
		{"another method", 0, func(tg signer.UploadTarget) int {
			tg.Method = http.MethodPost
			return sendUpload(t, tg, body)
		}, http.StatusForbidden},
		{"another content type", 0, func(tg signer.UploadTarget) int {
			tg.Headers = map[string]string{"Content-Type": "text/html"}
			return sendUpload(t, tg, body)
		}, http.StatusForbidden},
		{"more bytes than declared", 0, func(tg signer.UploadTarget) int { return sendUpload(t, tg, append(body, '!')) }, http.StatusRequestEntityTooLarge},
		{"bytes that do not match the checksum", 0, func(tg signer.UploadTarget) int {
			return sendUpload(t, tg, bytes.ToUpper(body))
		}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.clock.set(tt.clock)
			created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
				Filename: "x.txt", ContentType: "text/plain", SizeBytes: int64(len(body)), Checksum: sha256Checksum(body),
			})
			env.clock.set(0)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.send(targetOf(t, created.GetUploadTarget())); got != tt.wantStatus {
				t.Fatalf("upload answered %d, want %d", got, tt.wantStatus)
			}
			if _, err := env.local.Stat(context.Background(), created.GetFile().GetKey()); err == nil {
				t.Fatal("a refused upload left an object")
			}
			complete := func() (*presigndv1.CompleteUploadResponse, error) {
				return env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
			}
			done, err := complete()
			if tt.clock == 0 {
				// The target still works: the file waits for its bytes.
				wantCode(t, err, codes.FailedPrecondition)
				env.clock.set(time.Hour)
				done, err = complete()
				env.clock.set(0)
			}
			if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_FAILED {
				t.Fatalf("complete after refused upload: %v %v", done.GetFile(), err)
			}
			_, err = env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: created.GetFile().GetFileId()})
			wantCode(t, err, codes.FailedPrecondition)
		})
	}
}

func TestCompleteUploadVerifiesTheObject(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	md5sum := func(b []byte) *presigndv1.Checksum {
		sum := md5.Sum(b)
		return &presigndv1.Checksum{Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_MD5, Value: base64.StdEncoding.EncodeToString(sum[:])}
	}
	tests := []struct {
		name       string
		declared   int64
		checksum   *presigndv1.Checksum
		send       []byte // nil: upload nothing
		wantState  presigndv1.FileState
		wantReason string
	}{
		{"the declared bytes make it READY", 5, md5sum([]byte("hello")), []byte("hello"), presigndv1.FileState_FILE_STATE_READY, ""},
		{"fewer bytes than declared make it FAILED", 5, nil, []byte("hell"), presigndv1.FileState_FILE_STATE_FAILED, "4 bytes, 5 were declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "h.txt", ContentType: "text/plain", SizeBytes: tt.declared, Checksum: tt.checksum})
			if err != nil {
				t.Fatal(err)
			}
			if tt.send != nil {
				if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), tt.send); code/100 != 2 {
					t.Fatalf("upload: %d", code)
				}
			}
			// Concurrent and repeated completions agree on one outcome.
			var wg sync.WaitGroup
			results := make([]*presigndv1.File, 4)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
					if err != nil {
						t.Error(err)
						return
					}
					results[i] = done.GetFile()
				}()
			}
			wg.Wait()
			for _, f := range results {
				if f.GetState() != tt.wantState || !strings.Contains(f.GetFailureReason(), tt.wantReason) {
					t.Fatalf("state %v reason %q, want %v %q", f.GetState(), f.GetFailureReason(), tt.wantState, tt.wantReason)
				}
				if !f.GetCompleteTime().AsTime().Equal(results[0].GetCompleteTime().AsTime()) {
					t.Fatal("completions disagree on complete_time")
				}
			}
			_, statErr := env.local.Stat(context.Background(), created.GetFile().GetKey())
			if (tt.wantState == presigndv1.FileState_FILE_STATE_READY) != (statErr == nil) {
				t.Fatalf("object present = %v for state %v", statErr == nil, tt.wantState)
			}
		})
	}
}

func TestRequestIDMakesCreateUploadIdempotent(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	req := &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3, RequestId: "req-1"}
	first, err := env.client.CreateUpload(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := env.client.CreateUpload(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.GetFile().GetFileId() != first.GetFile().GetFileId() || second.GetFile().GetUploadCount() != 2 {
		t.Fatalf("retry gave file %s (count %d), want %s (count 2)", second.GetFile().GetFileId(), second.GetFile().GetUploadCount(), first.GetFile().GetFileId())
	}
	if second.GetUploadTarget().GetUrl() == "" {
		t.Fatal("retry gave no fresh target")
	}
	// Another tenant may use the same request id for its own file.
	theirs, err := env.client.CreateUpload(env.as("globex"), req)
	if err != nil || theirs.GetFile().GetFileId() == first.GetFile().GetFileId() {
		t.Fatalf("globex with the same request id: %v %v", theirs.GetFile(), err)
	}
	changed := &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 4, RequestId: "req-1"}
	_, err = env.client.CreateUpload(ctx, changed)
	wantCode(t, err, codes.AlreadyExists)
}

func TestValidateOnlyWritesNothing(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 3, ValidateOnly: true, RequestId: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetUploadTarget() != nil || resp.GetFile().GetFileId() != "" {
		t.Fatalf("validate_only returned a target or an id: %v", resp)
	}
	list, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{})
	if err != nil || len(list.GetFiles()) != 0 {
		t.Fatalf("validate_only wrote %v (%v)", list.GetFiles(), err)
	}
	_, err = env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: -3, ValidateOnly: true})
	wantCode(t, err, codes.InvalidArgument)
}

func TestListFilesPages(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "f.txt", ContentType: "text/plain", SizeBytes: 1})
		if err != nil {
			t.Fatal(err)
		}
		want[resp.GetFile().GetFileId()] = true
	}
	seen := map[string]bool{}
	token := ""
	pages := 0
	for {
		resp, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range resp.GetFiles() {
			if seen[f.GetFileId()] {
				t.Fatalf("file %s listed twice", f.GetFileId())
			}
			seen[f.GetFileId()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		// A token is bound to its tenant and filters, and cannot be altered.
		for name, call := range map[string]func() error{
			"altered": func() error {
				_, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{PageSize: 3, PageToken: "A" + token[1:]})
				return err
			},
			"other filters": func() error {
				_, err := env.client.ListFiles(ctx, &presigndv1.ListFilesRequest{PageSize: 3, PageToken: token, Category: "default"})
				return err
			},
			"other tenant": func() error {
				_, err := env.client.ListFiles(env.as("globex"), &presigndv1.ListFilesRequest{PageSize: 3, PageToken: token})
				return err
			},
		} {
			if token[0] == 'A' && name == "altered" {
				continue
			}
			if got := violations(t, call()); strings.Join(got, ",") != "page_token" {
				t.Fatalf("%s token: violations %v", name, got)
			}
		}
	}
	if pages != 3 || len(seen) != len(want) {
		t.Fatalf("%d pages, %d files; want 3 pages, %d files", pages, len(seen), len(want))
	}
}

func TestUpdateFile(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	f := env.createReady(t, "acme", "a.txt", []byte("a"))
	tests := []struct {
		name   string
		file   *presigndv1.File
		paths  []string
		fields []string
	}{
		{"no file id", &presigndv1.File{DisplayName: "x"}, []string{"display_name"}, []string{"file.file_id"}},
		{"an empty mask", &presigndv1.File{FileId: f.GetFileId()}, []string{}, []string{"update_mask"}},
		{"a field that cannot change", &presigndv1.File{FileId: f.GetFileId(), Key: "x"}, []string{"key"}, []string{"update_mask"}},
		{"an empty display name", &presigndv1.File{FileId: f.GetFileId()}, []string{"display_name"}, []string{"file.display_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{File: tt.file, UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.paths}})
			if got := violations(t, err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("violations %v, want %v", got, tt.fields)
			}
		})
	}
	resp, err := env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{
		File:       &presigndv1.File{FileId: f.GetFileId(), DisplayName: " renamed ", Metadata: map[string]string{"k": "v"}, Key: "ignored"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "metadata"}},
	})
	if err != nil || resp.GetFile().GetDisplayName() != "renamed" || resp.GetFile().GetMetadata()["k"] != "v" || resp.GetFile().GetKey() != f.GetKey() {
		t.Fatalf("update: %v %v", resp.GetFile(), err)
	}
}

func TestRESTErrors(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name       string
		method     string
		path       string
		key        string
		body       string
		wantStatus int
		wantFields []string
	}{
		{"malformed JSON", "POST", "/v1/uploads", "acme", `{"filename": `, http.StatusBadRequest, nil},
		{"an unknown JSON field", "POST", "/v1/uploads", "acme", `{"filename": "a", "colour": "red"}`, http.StatusBadRequest, nil},
		{"a wrong JSON type", "POST", "/v1/uploads", "acme", `{"size_bytes": "many"}`, http.StatusBadRequest, nil},
		{"missing fields", "POST", "/v1/uploads", "acme", `{}`, http.StatusBadRequest, []string{"content_type", "filename", "size_bytes"}},
		{"no credential", "POST", "/v1/uploads", "", `{}`, http.StatusUnauthorized, nil},
		{"a wrong key", "GET", "/v1/files", "wrong", ``, http.StatusUnauthorized, nil},
		{"an unknown file", "GET", "/v1/files/0190a0b0-c0d0-7000-8000-000000000000", "acme", ``, http.StatusNotFound, nil},
		{"an oversized page", "GET", "/v1/files?page_size=5000", "acme", ``, http.StatusBadRequest, []string{"page_size"}},
		{"a bad page token", "GET", "/v1/files?page_token=xyz", "acme", ``, http.StatusBadRequest, []string{"page_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, env.restURL+tt.path, strings.NewReader(tt.body))
			switch tt.key {
			case "":
			case "wrong":
				req.Header.Set("Authorization", "Bearer psk_wrong")
			default:
				req.Header.Set("X-Api-Key", env.keys[tt.key])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Details []struct {
					FieldViolations []struct {
						Field string `json:"field"`
					} `json:"field_violations"`
				} `json:"details"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || body.Message == "" {
				t.Fatalf("status %d message %q, want %d", resp.StatusCode, body.Message, tt.wantStatus)
			}
			var fields []string
			for _, d := range body.Details {
				for _, fv := range d.FieldViolations {
					fields = append(fields, fv.Field)
				}
			}
			sort.Strings(fields)
			if tt.wantFields != nil && strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Fatalf("fields %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestUsageCountsReadyAndReserved(t *testing.T) {
	env := newTestEnv(t)
	ctx := env.as("acme")
	env.createReady(t, "acme", "a.txt", []byte("12345"))
	if _, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "b.txt", ContentType: "text/plain", SizeBytes: 7}); err != nil {
		t.Fatal(err)
	}
	u, err := env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{})
	if err != nil || u.GetFileCount() != 1 || u.GetBytesUsed() != 5 || u.GetBytesReserved() != 7 || u.GetLastUploadTime() == nil {
		t.Fatalf("usage %v %v", u, err)
	}
	_, err = env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{Category: "nope"})
	wantCode(t, err, codes.InvalidArgument)
}

// TestNamesWithFormatCharactersAreRefused: issue 18 defect 9. A bidi
// override made "x\u202egnp.exe" render as "xexe.png"; every RPC that takes
// a name refuses Unicode format characters with a field violation, over
// gRPC and REST, unless the category opts in.
func TestNamesWithFormatCharactersAreRefused(t *testing.T) {
	env := newTestEnv(t, &policy.Category{
		Name: "scripts", Backend: "local", Key: policy.MustParseKeyTemplate("{tenant}/{uuid}{ext}"),
		MaxSize: 100, URLTTL: time.Minute, Method: policy.MethodPut,
		Names: policy.NameRules{AllowFormatCharacters: true},
	})
	ctx := env.as("acme")
	f := env.createReady(t, "acme", "a.txt", []byte("a"))
	const spoof = "x\u202egnp.exe"

	t.Run("gRPC", func(t *testing.T) {
		upload := func(r *presigndv1.CreateUploadRequest) error {
			r.ContentType, r.SizeBytes = "text/plain", 10
			_, err := env.client.CreateUpload(ctx, r)
			return err
		}
		tests := []struct {
			name   string
			call   func() error
			fields []string
		}{
			{"CreateUpload with a right-to-left override in the filename", func() error {
				return upload(&presigndv1.CreateUploadRequest{Filename: spoof})
			}, []string{"display_name", "filename"}},
			{"CreateUpload with a zero-width space in the display name", func() error {
				return upload(&presigndv1.CreateUploadRequest{Filename: "a.txt", DisplayName: "pay\u200bpal"})
			}, []string{"display_name"}},
			{"CreateUpload with a byte-order mark in the filename only", func() error {
				return upload(&presigndv1.CreateUploadRequest{Filename: "\ufeffa.txt", DisplayName: "a"})
			}, []string{"filename"}},
			{"UpdateFile to a name with a left-to-right isolate", func() error {
				_, err := env.client.UpdateFile(ctx, &presigndv1.UpdateFileRequest{
					File:       &presigndv1.File{FileId: f.GetFileId(), DisplayName: "a\u2066b"},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
				})
				return err
			}, []string{"file.display_name"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				wantCode(t, err, codes.InvalidArgument)
				if got := violations(t, err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("violated fields = %v, want %v (%v)", got, tt.fields, err)
				}
			})
		}
		t.Run("CheckName reports the name invalid and says why", func(t *testing.T) {
			resp, err := env.client.CheckName(ctx, &presigndv1.CheckNameRequest{DisplayName: spoof})
			if err != nil || resp.GetValid() || !strings.Contains(resp.GetReason(), "U+202E") {
				t.Fatalf("CheckName = %v, %v; want invalid with a reason naming U+202E", resp, err)
			}
		})
		t.Run("a category that allows format characters accepts them", func(t *testing.T) {
			resp, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
				Category: "scripts", Filename: "a\u200db.txt", ContentType: "text/plain", SizeBytes: 10,
			})
			if err != nil || resp.GetFile().GetDisplayName() != "a\u200db.txt" {
				t.Fatalf("CreateUpload = %v, %v", resp.GetFile(), err)
			}
		})
	})

	t.Run("REST", func(t *testing.T) {
		tests := []struct {
			name, method, path, body string
			fields                   []string
		}{
			{"CreateUpload with a right-to-left override in the filename", "POST", "/v1/uploads",
				`{"filename": "x\u202egnp.exe", "content_type": "text/plain", "size_bytes": 10}`, []string{"display_name", "filename"}},
			{"CreateUpload with a zero-width joiner in the display name", "POST", "/v1/uploads",
				`{"filename": "a.txt", "display_name": "a\u200db", "content_type": "text/plain", "size_bytes": 10}`, []string{"display_name"}},
			{"UpdateFile to a name with a pop-directional-isolate", "PATCH", "/v1/files/" + f.GetFileId() + "?update_mask=display_name",
				`{"display_name": "a\u2069b"}`, []string{"file.display_name"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(tt.method, env.restURL+tt.path, strings.NewReader(tt.body))
				req.Header.Set("X-Api-Key", env.keys["acme"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct {
					Details []struct {
						FieldViolations []struct {
							Field       string `json:"field"`
							Description string `json:"description"`
						} `json:"field_violations"`
					} `json:"details"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("error body is not JSON: %v", err)
				}
				var fields []string
				for _, d := range body.Details {
					for _, fv := range d.FieldViolations {
						fields = append(fields, fv.Field)
						if !strings.Contains(fv.Description, "invisible formatting characters") {
							t.Errorf("%s: %q does not say what is wrong", fv.Field, fv.Description)
						}
					}
				}
				sort.Strings(fields)
				if resp.StatusCode != http.StatusBadRequest || strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("status %d, fields %v; want 400 and %v", resp.StatusCode, fields, tt.fields)
				}
			})
		}
		t.Run("CheckName reports the name invalid and says why", func(t *testing.T) {
			req, _ := http.NewRequest("POST", env.restURL+"/v1/uploads:checkName", strings.NewReader(`{"display_name": "x\u202egnp.exe"}`))
			req.Header.Set("X-Api-Key", env.keys["acme"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Valid  bool   `json:"valid"`
				Reason string `json:"reason"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Valid || !strings.Contains(body.Reason, "U+202E") {
				t.Fatalf("status %d, %+v, %v; want 200, invalid, a reason naming U+202E", resp.StatusCode, body, err)
			}
		})
	})

	got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()})
	if err != nil || got.GetFile().GetDisplayName() != f.GetDisplayName() {
		t.Fatalf("the refused rename changed the file: %v, %v", got.GetFile(), err)
	}
}
