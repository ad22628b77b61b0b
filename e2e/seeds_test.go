package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/auth/authtest"
	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/thumbnail/thumbnailtest"
)

// The seed profiles: each test replays a real presigned-upload API's flow
// against the binary running an examples/ configuration. The backend is the
// example's (local) unless a test of a real backend swaps it, see
// backend_test.go.

// checkField fails unless a REST answer is a 400 that names field.
func checkField(t *testing.T, code int, body map[string]any, field string) {
	t.Helper()
	if code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 naming %s: %v", code, field, body)
	}
	for _, f := range violatedFields(body) {
		if f == field {
			return
		}
	}
	t.Fatalf("400 does not name %s: %v", field, body)
}

func md5b64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// completeREST completes an upload and returns the file.
func completeREST(t *testing.T, inst *instance, id string) map[string]any {
	t.Helper()
	code, body := inst.rest(t, "POST", "/v1/files/"+id+":complete", nil)
	if code != http.StatusOK {
		t.Fatalf("CompleteUpload: %d %v", code, body)
	}
	return body["file"].(map[string]any)
}

// completeBeforeBytes completes a file whose bytes never arrived (every
// upload was refused) while its target is still valid: 409, and the file
// stays PENDING, never READY.
func completeBeforeBytes(t *testing.T, inst *instance, id string) {
	t.Helper()
	code, body := inst.rest(t, "POST", "/v1/files/"+id+":complete", nil)
	if code != http.StatusConflict {
		t.Fatalf("CompleteUpload before the bytes: %d %v, want 409", code, body)
	}
	if code, got := inst.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusOK || str(got, "file.state") != "FILE_STATE_PENDING" {
		t.Fatalf("file after an early CompleteUpload: %d %v, want PENDING", code, got)
	}
}

// downloadREST fetches a file's bytes through a download URL.
func downloadREST(t *testing.T, inst *instance, id string) []byte {
	t.Helper()
	code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", nil)
	if code != http.StatusOK {
		t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
	}
	status, b, _ := download(t, str(dl, "url"))
	if status != http.StatusOK {
		t.Fatalf("download: %d", status)
	}
	return b
}

func TestSeedKYCDocuments(t *testing.T) {
	t.Parallel()
	runKYCDocuments(t, startExample(t, "kyc-documents", nil))
}

func runKYCDocuments(t *testing.T, inst *instance) {
	jpeg := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte("kyc"), 1000)...)
	for _, category := range []string{"identity", "identity_back", "proof_of_address", "liveness_check"} {
		t.Run(category, func(t *testing.T) {
			code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
				"category": category, "owner": map[string]string{"customer_id": "customer_123"},
				"filename": "passport.jpg", "content_type": "image/jpeg", "size_bytes": len(jpeg),
			})
			if code != http.StatusOK {
				t.Fatalf("CreateUpload: %d %v", code, created)
			}
			// The seed's answer: file_id, url and the headers to send.
			id, target := str(created, "file.file_id"), created["upload_target"]
			if id == "" || str(target, "url") == "" || str(target, "headers.Content-Type") != "image/jpeg" {
				t.Fatalf("answer lacks file_id, url or headers: %v", created)
			}
			if key := str(created, "file.key"); !strings.Contains(key, "/customer_123/"+category+"/") {
				t.Fatalf("key %q is not the customer's", key)
			}
			if code := upload(t, targetFromJSON(t, target), jpeg); code/100 != 2 {
				t.Fatalf("upload: %d", code)
			}
			if f := completeREST(t, inst, id); str(f, "state") != "FILE_STATE_READY" || str(f, "owner.customer_id") != "customer_123" {
				t.Fatalf("completed file: %v", f)
			}
		})
	}
	t.Run("refusals name the field", func(t *testing.T) {
		base := func() map[string]any {
			return map[string]any{"category": "identity", "owner": map[string]string{"customer_id": "customer_123"},
				"filename": "id.jpg", "content_type": "image/jpeg", "size_bytes": 10}
		}
		cases := []struct {
			name   string
			mutate func(m map[string]any)
			field  string
		}{
			{"no customer_id", func(m map[string]any) { delete(m, "owner") }, "owner.customer_id"},
			{"a customer_id with a slash", func(m map[string]any) { m["owner"] = map[string]string{"customer_id": "a/b"} }, "owner.customer_id"},
			{"a category outside the four", func(m map[string]any) { m["category"] = "national_id_card" }, "category"},
			{"a video as an identity document", func(m map[string]any) { m["content_type"] = "video/mp4" }, "content_type"},
			{"more than 10 MiB", func(m map[string]any) { m["size_bytes"] = 10<<20 + 1 }, "size_bytes"},
		}
		for _, c := range cases {
			req := base()
			c.mutate(req)
			code, body := inst.rest(t, "POST", "/v1/uploads", req)
			checkField(t, code, body, c.field)
		}
	})
}

func TestSeedReleaseForms(t *testing.T) {
	t.Parallel()
	runReleaseForms(t, startExample(t, "release-forms", nil), "local://")
}

func runReleaseForms(t *testing.T, inst *instance, uriScheme string) {
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("release form "), 500)...)
	before := time.Now()
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "release_form", "filename": "signed-release-form.pdf", "content_type": "application/pdf", "size_bytes": len(pdf),
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	key := str(created, "file.key")
	if !regexp.MustCompile(`^tenants/` + regexp.QuoteMeta(inst.tenant()) + `/releaseForms/[0-9a-f-]{36}\.pdf$`).MatchString(key) {
		t.Fatalf("key %q is not tenants/{tenant}/releaseForms/{uuid}.pdf", key)
	}
	uri := str(created, "file.storage_uri")
	if !strings.HasPrefix(uri, uriScheme) || !strings.HasSuffix(uri, key) {
		t.Fatalf("storage_uri %q is not a %s URI of the key", uri, uriScheme)
	}
	expires, err := time.Parse(time.RFC3339Nano, str(created, "upload_target.expire_time"))
	if err != nil {
		t.Fatal(err)
	}
	if ttl := expires.Sub(before); ttl < 14*time.Minute || ttl > 16*time.Minute {
		t.Fatalf("URL valid for %v, want 15 minutes", ttl)
	}
	if code := upload(t, targetFromJSON(t, created["upload_target"]), pdf); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	id := str(created, "file.file_id")
	if f := completeREST(t, inst, id); str(f, "state") != "FILE_STATE_READY" || str(f, "storage_uri") != uri {
		t.Fatalf("completed: %v", f)
	}
	if got := downloadREST(t, inst, id); !bytes.Equal(got, pdf) {
		t.Fatal("downloaded bytes differ")
	}
	runBodylessReleaseForm(t, inst, uriScheme, pdf)
	// With a JWT the tenant comes from the token, and keys follow it.
	code, fromJWT := inst.restWithToken(t, inst.sessionToken(t, "acme-corp"), "POST", "/v1/uploads", map[string]any{
		"category": "release_form", "filename": "form.pdf", "content_type": "application/pdf", "size_bytes": 10,
	})
	if code != http.StatusOK || !strings.HasPrefix(str(fromJWT, "file.key"), "tenants/acme-corp/releaseForms/") || str(fromJWT, "file.tenant") != "acme-corp" {
		t.Fatalf("upload with a JWT: %d %v", code, fromJWT)
	}
	// The API key's tenant cannot see the JWT tenant's file.
	if code, _ := inst.rest(t, "GET", "/v1/files/"+str(fromJWT, "file.file_id"), nil); code != http.StatusNotFound {
		t.Fatalf("another tenant's file: %d, want 404", code)
	}
	// PDF only, at most 10 MiB: exactly 10 MiB passes, one byte more does not.
	for _, c := range []struct {
		contentType string
		size        int
		wantCode    int
		field       string
	}{
		{"application/pdf", 10 << 20, http.StatusOK, ""},
		{"application/pdf", 10<<20 + 1, http.StatusBadRequest, "size_bytes"},
		{"image/png", 100, http.StatusBadRequest, "content_type"},
	} {
		code, body := inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": "release_form", "filename": "f.pdf", "content_type": c.contentType, "size_bytes": c.size, "validate_only": true,
		})
		if c.field != "" {
			checkField(t, code, body, c.field)
		} else if code != c.wantCode {
			t.Fatalf("%s %d bytes: %d %v", c.contentType, c.size, code, body)
		}
	}
}

// runBodylessReleaseForm replays the seed's GET, which takes no body: the
// target binds PDF and the 10 MiB limit, a larger upload is refused by
// storage (on GCS by the signed x-goog-content-length-range), and the
// upload completes with its real size.
func runBodylessReleaseForm(t *testing.T, inst *instance, uriScheme string, pdf []byte) {
	t.Helper()
	get := func() (signer.UploadTarget, map[string]any) {
		t.Helper()
		code, got := inst.rest(t, "GET", "/v1/categories/release_form/upload-target", nil)
		if code != http.StatusOK {
			t.Fatalf("GET upload-target: %d %v", code, got)
		}
		key, id := str(got, "file.key"), str(got, "file.file_id")
		if key != "tenants/"+inst.tenant()+"/releaseForms/"+id+".pdf" || str(got, "file.filename") != id+".pdf" ||
			!strings.HasPrefix(str(got, "file.storage_uri"), uriScheme) || got["file"].(map[string]any)["size_unknown"] != true {
			t.Fatalf("GET upload-target: %v", got)
		}
		target := targetFromJSON(t, got["upload_target"])
		if target.Headers["Content-Type"] != "application/pdf" {
			t.Fatalf("target headers %v do not bind the PDF type", target.Headers)
		}
		if strings.HasPrefix(uriScheme, "gs://") && target.Headers["x-goog-content-length-range"] != "0,10485760" {
			t.Fatalf("GCS target headers %v do not bind the 10 MiB limit", target.Headers)
		}
		return target, got
	}
	oversize, refused := get()
	if code := upload(t, oversize, make([]byte, 10<<20+1)); code/100 == 2 {
		t.Fatalf("storage accepted 10 MiB + 1 byte: %d", code)
	}
	completeBeforeBytes(t, inst, str(refused, "file.file_id"))
	target, got := get()
	if code := upload(t, target, pdf); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	f := completeREST(t, inst, str(got, "file.file_id"))
	if str(f, "state") != "FILE_STATE_READY" || str(f, "size_bytes") != strconv.Itoa(len(pdf)) || f["size_unknown"] != false {
		t.Fatalf("completed: %v", f)
	}
}

func TestSeedPostPolicyUpload(t *testing.T) {
	t.Parallel()
	runPostPolicyUpload(t, startExample(t, "post-policy-upload", nil))
}

func runPostPolicyUpload(t *testing.T, inst *instance) {
	body := []byte(`{"hello": "presigned POST"}`)
	request := func(source, contentType string, size int) (int, map[string]any) {
		return inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"filename": "data.json", "content_type": contentType, "size_bytes": size,
			"category": "upload", "owner": map[string]string{"source": source},
		})
	}
	before := time.Now()
	code, created := request("record_import", "application/json", len(body))
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	target := created["upload_target"]
	if str(target, "method") != "UPLOAD_METHOD_POST" || len(field(target, "form_fields").(map[string]any)) == 0 {
		t.Fatalf("not a POST policy target: %v", target)
	}
	expires, _ := time.Parse(time.RFC3339Nano, str(target, "expire_time"))
	if ttl := expires.Sub(before); ttl < 4*time.Minute || ttl > 6*time.Minute {
		t.Fatalf("policy valid for %v, want 5 minutes", ttl)
	}
	if str(target, "max_size_bytes") != fmt.Sprint(25<<20) {
		t.Fatalf("max_size_bytes = %v", field(target, "max_size_bytes"))
	}
	if code := upload(t, targetFromJSON(t, target), body); code/100 != 2 {
		t.Fatalf("POST upload: %d", code)
	}
	// The confirm step returns size, human-readable size and etag.
	f := completeREST(t, inst, str(created, "file.file_id"))
	if str(f, "state") != "FILE_STATE_READY" || str(f, "size_bytes") != fmt.Sprint(len(body)) || str(f, "size_display") != fmt.Sprintf("%d B", len(body)) || str(f, "etag") == "" {
		t.Fatalf("confirmed file: %v", f)
	}
	// The bytes were checked (sniff_content); a private file has no
	// public URL.
	if str(f, "detected_content_type") != "application/json" || field(f, "is_public") != false || str(f, "public_url") != "" {
		t.Fatalf("confirmed private file: %v", f)
	}

	t.Run("a public image is confirmed with is_public and its public url", func(t *testing.T) {
		logo := thumbnailtest.PNG(320, 160)
		code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"filename": "logo.png", "content_type": "image/png", "size_bytes": len(logo),
			"category": "public", "owner": map[string]string{"source": "public_image"},
		})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, created)
		}
		if field(created, "file.is_public") != false || str(created, "file.public_url") != "" {
			t.Fatalf("a PENDING file is public: %v", created["file"])
		}
		if code := upload(t, targetFromJSON(t, created["upload_target"]), logo); code/100 != 2 {
			t.Fatalf("POST upload: %d", code)
		}
		f := completeREST(t, inst, str(created, "file.file_id"))
		if str(f, "state") != "FILE_STATE_READY" || field(f, "is_public") != true || str(f, "public_url") != "https://files.example.com/"+str(f, "key") {
			t.Fatalf("confirmed public file: %v", f)
		}
		// The seed's thumbnail_url: the thumbnail is made off the request
		// path, then carries its own public URL beside the image's.
		wantThumb := "https://files.example.com/" + str(f, "key") + "~thumbs/thumb.jpg"
		var thumbs []any
		testenv.WaitFor(t, "the public image's thumbnail", func() bool {
			code, got := inst.rest(t, "GET", "/v1/files/"+str(f, "file_id"), nil)
			if code != http.StatusOK {
				t.Fatalf("GetFile: %d %v", code, got)
			}
			thumbs, _ = field(got, "file.thumbnails").([]any)
			return len(thumbs) > 0
		})
		if th, _ := thumbs[0].(map[string]any); len(thumbs) != 1 || str(th, "public_url") != wantThumb || str(th, "content_type") != "image/jpeg" {
			t.Fatalf("thumbnails of the public image: %v, want one image/jpeg with public_url %q", thumbs, wantThumb)
		}
	})
	t.Run("bytes that are not the declared type are refused at confirmation", func(t *testing.T) {
		code, created := request("record_import", "application/pdf", len(sniffEXE))
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, created)
		}
		if code := upload(t, targetFromJSON(t, created["upload_target"]), sniffEXE); code/100 != 2 {
			t.Fatalf("POST upload: %d", code)
		}
		f := completeREST(t, inst, str(created, "file.file_id"))
		if str(f, "state") != "FILE_STATE_FAILED" || !strings.Contains(str(f, "failure_reason"), "application/pdf") {
			t.Fatalf("confirmed executable declared as PDF: %v", f)
		}
	})

	t.Run("the policy itself refuses a bigger file and another type", func(t *testing.T) {
		code, created := request("public_image", "image/png", 100)
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, created)
		}
		tg := targetFromJSON(t, created["upload_target"])
		if code := upload(t, tg, make([]byte, 25<<20+1)); code/100 == 2 {
			t.Fatalf("oversize POST accepted: %d", code)
		}
		other := tg
		other.FormFields = map[string]string{}
		for k, v := range tg.FormFields {
			if strings.EqualFold(k, "content-type") {
				v = "text/html"
			}
			other.FormFields[k] = v
		}
		if code := upload(t, other, []byte("<script>")); code/100 == 2 {
			t.Fatalf("POST with another content type accepted: %d", code)
		}
		completeBeforeBytes(t, inst, str(created, "file.file_id"))
	})
	t.Run("the business and the user come as headers from a trusted key only", func(t *testing.T) {
		req := map[string]any{"filename": "resume.pdf", "content_type": "application/pdf", "size_bytes": 100,
			"category": "upload", "owner": map[string]string{"source": "field_value"}}
		headers := map[string]string{"X-BUSINESS-ID": "biz-42", "X-USER-ID": "user-7"}
		// The instance's key has every scope, owner:headers included.
		code, created := inst.restWithHeaders(t, inst.APIKey, "POST", "/v1/uploads", req, headers)
		if code != http.StatusOK || str(created, "file.owner.business_id") != "biz-42" || str(created, "file.owner.user_id") != "user-7" {
			t.Fatalf("CreateUpload with owner headers: %d %v", code, created)
		}
		code, key := inst.createKey(t, inst.APIKey, map[string]any{"scopes": []string{"files:upload", "files:read"}})
		if code != http.StatusOK {
			t.Fatalf("create a key without owner:headers: %d %v", code, key)
		}
		code, refused := inst.restWithHeaders(t, str(key, "secret"), "POST", "/v1/uploads", req, headers)
		if code != http.StatusForbidden || !strings.Contains(str(refused, "message"), "owner:headers") {
			t.Fatalf("owner headers from an untrusted key: %d %v, want 403", code, refused)
		}
		code, plain := inst.restWithKey(t, str(key, "secret"), "POST", "/v1/uploads", req)
		if code != http.StatusOK || str(plain, "file.owner.business_id") != "" {
			t.Fatalf("the untrusted key without the headers: %d %v", code, plain)
		}
	})
	t.Run("source must be one of the enum", func(t *testing.T) {
		code, body := request("", "application/json", 10)
		checkField(t, code, body, "owner.source")
		code, body = request("somewhere_else", "application/json", 10)
		checkField(t, code, body, "owner.source")
	})
}

func TestSeedApplicationFiles(t *testing.T) {
	t.Parallel()
	runApplicationFiles(t, startExample(t, "application-files", nil))
}

func runApplicationFiles(t *testing.T, inst *instance) {
	app := map[string]string{"application_id": "123456789"}
	payload := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 1<<18) // 1 MiB
	checkName := func(name string) map[string]any {
		code, body := inst.rest(t, "POST", "/v1/uploads:checkName", map[string]any{"category": "file", "display_name": name, "owner": app})
		if code != http.StatusOK {
			t.Fatalf("CheckName: %d %v", code, body)
		}
		return body
	}
	createFile := func(name string, size int, owner map[string]string) (int, map[string]any) {
		return inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": "file", "display_name": name, "filename": "setup.bin", "content_type": "application/octet-stream",
			"size_bytes": size, "owner": owner,
		})
	}

	if got := checkName("setup-bin"); field(got, "valid") != true || field(got, "available") != true {
		t.Fatalf("free name: %v", got)
	}
	code, created := createFile("  setup-bin ", len(payload), app)
	if code != http.StatusOK || str(created, "file.display_name") != "setup-bin" {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	if code := upload(t, targetFromJSON(t, created["upload_target"]), payload); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	completeREST(t, inst, id)
	// Uploaded status: the name is taken by a READY file.
	if got := checkName("setup-bin"); field(got, "available") != false || str(got, "existing_file.state") != "FILE_STATE_READY" || str(got, "existing_file.file_id") != id {
		t.Fatalf("taken name: %v", got)
	}

	t.Run("name rules", func(t *testing.T) {
		for _, c := range []struct{ name, want string }{
			{"abc", "at least 4"}, {"abcd", ""}, {"abcdefghij-12345", ""}, {"abcdefghij-123456", "at most 16"},
			{"setup  bin", "repeated spaces"}, {"setup_bin", "letters, digits, dashes and single spaces"}, {"fichier-é", "letters"},
		} {
			got := checkName(c.name)
			if (c.want == "") != (field(got, "valid") == true) || !strings.Contains(str(got, "reason"), c.want) {
				t.Errorf("CheckName(%q) = %v, want reason containing %q", c.name, got, c.want)
			}
		}
		code, body := createFile("abc", 10, app)
		checkField(t, code, body, "display_name")
	})
	t.Run("names are unique per application", func(t *testing.T) {
		code, body := createFile("setup-bin", 10, app)
		if code != http.StatusConflict || !strings.Contains(str(body, "message"), "already used") {
			t.Fatalf("duplicate name: %d %v", code, body)
		}
		code, body = createFile("setup-bin", 10, map[string]string{"application_id": "42"})
		if code != http.StatusOK {
			t.Fatalf("same name in another application: %d %v", code, body)
		}
	})
	t.Run("the storage limit counts every file of the application", func(t *testing.T) {
		// 1 MiB is used; reserve up to exactly 100 MiB (files are at most
		// 64 MiB each), then one byte more.
		code, body := createFile("big-one", 64<<20, app)
		if code != http.StatusOK {
			t.Fatalf("reserve 64 MiB: %d %v", code, body)
		}
		first := str(body, "file.file_id")
		code, body = createFile("big-two", 35<<20, app)
		if code != http.StatusOK {
			t.Fatalf("exactly at the limit: %d %v", code, body)
		}
		second := str(body, "file.file_id")
		code, body = createFile("one-more", 1, app)
		if code != http.StatusTooManyRequests || !strings.Contains(str(body, "message"), "storage limit") {
			t.Fatalf("past the limit: %d %v", code, body)
		}
		code, usage := inst.rest(t, "GET", "/v1/usage?category=file&owner[application_id]=123456789", nil)
		if code != http.StatusOK || str(usage, "file_count") != "1" || str(usage, "bytes_used") != fmt.Sprint(1<<20) ||
			str(usage, "bytes_reserved") != fmt.Sprint(99<<20) || str(usage, "quota_bytes") != fmt.Sprint(100<<20) || str(usage, "last_upload_time") == "" {
			t.Fatalf("usage: %d %v", code, usage)
		}
		// Deleting reservations frees their bytes.
		for _, id := range []string{first, second} {
			if code, body := inst.rest(t, "DELETE", "/v1/files/"+id, nil); code != http.StatusOK {
				t.Fatalf("delete: %d %v", code, body)
			}
		}
		if code, body := createFile("one-more", 1, app); code != http.StatusOK {
			t.Fatalf("after freeing: %d %v", code, body)
		}
	})
	t.Run("the files table pages and searches", func(t *testing.T) {
		for _, n := range []string{"setup-two", "readme"} { // after one-more
			if code, body := createFile(n, 1, app); code != http.StatusOK {
				t.Fatalf("create %s: %d %v", n, code, body)
			}
		}
		q := url.Values{"category": {"file"}, "owner[application_id]": {"123456789"}, "name_contains": {"SETUP"}, "page_size": {"1"}}
		var names []string
		for page := 0; page < 5; page++ {
			code, list := inst.rest(t, "GET", "/v1/files?"+q.Encode(), nil)
			if code != http.StatusOK {
				t.Fatalf("ListFiles: %d %v", code, list)
			}
			for _, f := range list["files"].([]any) {
				names = append(names, fmt.Sprint(str(f, "display_name"), "/", field(f, "upload_count")))
			}
			if q.Set("page_token", str(list, "next_page_token")); q.Get("page_token") == "" {
				break
			}
		}
		if strings.Join(names, ",") != "setup-two/1,setup-bin/1" {
			t.Fatalf("search pages = %v", names)
		}
	})
	t.Run("rename and delete", func(t *testing.T) {
		code, body := inst.rest(t, "PATCH", "/v1/files/"+id+"?update_mask=display_name", map[string]any{"display_name": "setup-new"})
		if code != http.StatusOK || str(body, "file.display_name") != "setup-new" {
			t.Fatalf("rename: %d %v", code, body)
		}
		code, body = inst.rest(t, "PATCH", "/v1/files/"+id+"?update_mask=display_name", map[string]any{"display_name": "readme"})
		if code != http.StatusConflict {
			t.Fatalf("rename onto a taken name: %d %v", code, body)
		}
		code, body = inst.rest(t, "PATCH", "/v1/files/"+id+"?update_mask=display_name", map[string]any{"display_name": "no"})
		checkField(t, code, body, "file.display_name")
		code, dl := inst.rest(t, "POST", "/v1/files/"+id+":download", nil)
		if code != http.StatusOK {
			t.Fatalf("download url: %d %v", code, dl)
		}
		if code, body := inst.rest(t, "DELETE", "/v1/files/"+id, nil); code != http.StatusOK {
			t.Fatalf("delete: %d %v", code, body)
		}
		if status, _, _ := download(t, str(dl, "url")); status != http.StatusGone {
			t.Fatalf("download URL after delete: %d, want 410 (spent)", status)
		}
		if got := checkName("setup-new"); field(got, "available") != true {
			t.Fatalf("deleted file still holds its name: %v", got)
		}
	})
	t.Run("avatars are for session tokens only", func(t *testing.T) {
		avatar := map[string]any{"category": "avatar", "filename": "me.png", "content_type": "image/png", "size_bytes": 100, "owner": app}
		code, body := inst.rest(t, "POST", "/v1/uploads", avatar)
		if code != http.StatusForbidden || !strings.Contains(str(body, "message"), "jwt") {
			t.Fatalf("avatar with an API key: %d %v", code, body)
		}
		code, body = inst.restWithToken(t, appToken(t, inst, app["application_id"]), "POST", "/v1/uploads", avatar)
		if code != http.StatusOK {
			t.Fatalf("avatar with a session token: %d %v", code, body)
		}
	})
	t.Run("the files table shows who uploaded and how often URLs were issued", func(t *testing.T) {
		claims := inst.issuer.Valid(inst.tenant())
		claims.Subject, claims.Extra = "user-4001", map[string]any{"preferred_username": "owner", "application_ids": []string{app["application_id"]}}
		session := inst.issuer.Sign(t, authtest.RSAKey, claims)
		body := []byte("owner's file")
		code, created := inst.restWithToken(t, session, "POST", "/v1/uploads", map[string]any{
			"category": "file", "display_name": "owner-file", "filename": "owner.bin", "content_type": "application/octet-stream",
			"size_bytes": len(body), "owner": app,
		})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload with a session: %d %v", code, created)
		}
		fileID := str(created, "file.file_id")
		if code := upload(t, targetFromJSON(t, created["upload_target"]), body); code/100 != 2 {
			t.Fatalf("upload: %d", code)
		}
		completeREST(t, inst, fileID)
		for range 2 {
			if got := downloadREST(t, inst, fileID); !bytes.Equal(got, body) {
				t.Fatalf("downloaded %q", got)
			}
		}
		q := url.Values{"category": {"file"}, "owner[application_id]": {"123456789"}, "display_name": {"owner-file"}}
		code, list := inst.rest(t, "GET", "/v1/files?"+q.Encode(), nil)
		if code != http.StatusOK || len(list["files"].([]any)) != 1 {
			t.Fatalf("ListFiles: %d %v", code, list)
		}
		row := list["files"].([]any)[0]
		if str(row, "presigned_url_count") != "3" || str(row, "download_url_count") != "2" || str(row, "last_presigned_url_time") == "" ||
			str(row, "uploader.display_name") != "owner" || str(row, "uploader.kind") != "jwt" || str(row, "uploader.id") != "user-4001" {
			t.Fatalf("files table row = %v", row)
		}
		last, _ := time.Parse(time.RFC3339Nano, str(row, "last_presigned_url_time"))
		created0, _ := time.Parse(time.RFC3339Nano, str(row, "create_time"))
		if !last.After(created0) {
			t.Errorf("last presigned URL at %v, not after the upload target of %v", last, created0)
		}
		code, got := inst.rest(t, "GET", "/v1/files/"+fileID, nil)
		if code != http.StatusOK || str(got, "file.presigned_url_count") != "3" || str(got, "file.uploader.display_name") != "owner" {
			t.Fatalf("GetFile: %d %v", code, got)
		}
		code, byKey := createFile("key-file", 1, app)
		if code != http.StatusOK || str(byKey, "file.uploader.kind") != "api_key" || str(byKey, "file.uploader.id") == "" || str(byKey, "file.presigned_url_count") != "1" {
			t.Fatalf("a file an API key created: %d %v", code, byKey)
		}
	})
}

func TestSeedDirectUpload(t *testing.T) {
	t.Parallel()
	runDirectUpload(t, startExample(t, "direct-upload", nil), "Content-Disposition")
}

// runDirectUpload replays seed 004 on inst; the target carries the
// disposition in dispositionHeader (Azure's is x-ms-blob-content-disposition).
func runDirectUpload(t *testing.T, inst *instance, dispositionHeader string) {
	blob := bytes.Repeat([]byte("active storage blob "), 300)
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "blob", "filename": "Quarterly report.pdf", "content_type": "application/pdf", "size_bytes": len(blob),
		"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64(blob)},
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	f := created["file"]
	if str(f, "key") == "" || str(f, "backend") != "amazon" || str(f, "signed_id") == "" || str(f, "checksum.value") != md5b64(blob) {
		t.Fatalf("record lacks key, service name, signed_id or checksum: %v", f)
	}
	headers := field(created, "upload_target.headers").(map[string]any)
	want := map[string]string{
		"Content-Type":    "application/pdf",
		"Content-MD5":     md5b64(blob),
		dispositionHeader: `inline; filename="Quarterly report.pdf"`,
	}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %v, want %q (all: %v)", k, headers[k], v, headers)
		}
	}
	if code := upload(t, targetFromJSON(t, created["upload_target"]), blob); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	completeREST(t, inst, str(f, "file_id"))
	code, bySigned := inst.rest(t, "GET", "/v1/files/"+url.PathEscape(str(f, "signed_id")), nil)
	if code != http.StatusOK || str(bySigned, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("GetFile by signed_id: %d %v", code, bySigned)
	}
	t.Run("validation errors name the field", func(t *testing.T) {
		base := map[string]any{"category": "blob", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 3}
		code, body := inst.rest(t, "POST", "/v1/uploads", base)
		checkField(t, code, body, "checksum")
		base["checksum"] = map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": "not base64!"}
		code, body = inst.rest(t, "POST", "/v1/uploads", base)
		checkField(t, code, body, "checksum.value")
		base["checksum"] = map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64([]byte("abc"))}
		base["size_bytes"] = 0
		code, body = inst.rest(t, "POST", "/v1/uploads", base)
		checkField(t, code, body, "size_bytes")
	})
	t.Run("the same bytes uploaded again are one file", func(t *testing.T) {
		code, again := inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": "blob", "filename": "copy.pdf", "content_type": "application/pdf", "size_bytes": len(blob),
			"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64(blob)},
		})
		if code != http.StatusOK || field(again, "deduplicated") != true || field(again, "upload_target") != nil ||
			str(again, "file.file_id") != str(f, "file_id") || str(again, "file.state") != "FILE_STATE_READY" {
			t.Fatalf("second upload of the same bytes: %d %v", code, again)
		}
		code, list := inst.rest(t, "GET", "/v1/files?category=blob&state=FILE_STATE_READY", nil)
		if code != http.StatusOK || len(list["files"].([]any)) != 1 {
			t.Fatalf("READY blobs: %d %v, want one", code, list)
		}
	})
	t.Run("bytes that do not match the checksum never become READY", func(t *testing.T) {
		code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": "blob", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 3,
			"checksum": map[string]any{"algorithm": "CHECKSUM_ALGORITHM_MD5", "value": md5b64([]byte("abc"))},
		})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, created)
		}
		if code := upload(t, targetFromJSON(t, created["upload_target"]), []byte("xyz")); code/100 == 2 {
			t.Fatalf("wrong bytes accepted: %d", code)
		}
		completeBeforeBytes(t, inst, str(created, "file.file_id"))
	})
}

// appToken is a session token of the instance's tenant whose
// application_ids claim lists apps.
func appToken(t *testing.T, inst *instance, apps ...string) string {
	t.Helper()
	c := inst.issuer.Valid(inst.tenant())
	c.Extra = map[string]any{"application_ids": apps}
	return inst.issuer.Sign(t, authtest.RSAKey, c)
}

// TestSeedApplicationFilesAccessByApplication replays seed 003's "all
// file routes check access to that application" with session tokens
// whose application_ids claim lists the applications they may use: the
// files of another application are refused (403 when asked by owner, 404
// by id), and a token without the claim reaches none.
func TestSeedApplicationFilesAccessByApplication(t *testing.T) {
	t.Parallel()
	inst := startExample(t, "application-files", nil)
	mine, theirs := appToken(t, inst, "111"), appToken(t, inst, "222")
	noClaim := inst.sessionToken(t, inst.tenant())
	create := func(token, app, name string) (int, map[string]any) {
		return inst.restWithToken(t, token, "POST", "/v1/uploads", map[string]any{
			"category": "file", "display_name": name, "filename": "setup.bin", "content_type": "application/octet-stream",
			"size_bytes": 4, "owner": map[string]string{"application_id": app},
		})
	}
	code, own := create(mine, "111", "mine")
	if code != http.StatusOK {
		t.Fatalf("CreateUpload in the token's application: %d %v", code, own)
	}
	code, other := create(theirs, "222", "theirs")
	if code != http.StatusOK {
		t.Fatalf("CreateUpload in the other token's application: %d %v", code, other)
	}
	otherID := str(other, "file.file_id")
	t.Run("creating in another application is 403 naming the rule", func(t *testing.T) {
		code, body := create(mine, "222", "sneaky")
		if code != http.StatusForbidden || !strings.Contains(str(body, "message"), "own applications") {
			t.Fatalf("CreateUpload in 222 with a token for 111: %d %v", code, body)
		}
	})
	t.Run("another application's file is 404 on every route by id", func(t *testing.T) {
		for _, r := range []struct{ verb, path string }{
			{"GET", "/v1/files/" + otherID},
			{"POST", "/v1/files/" + otherID + ":download"},
			{"POST", "/v1/files/" + otherID + ":complete"},
			{"DELETE", "/v1/files/" + otherID},
		} {
			if code, body := inst.restWithToken(t, mine, r.verb, r.path, nil); code != http.StatusNotFound {
				t.Fatalf("%s %s with a token for 111: %d %v, want 404", r.verb, r.path, code, body)
			}
		}
		if code, _ := inst.restWithToken(t, theirs, "GET", "/v1/files/"+otherID, nil); code != http.StatusOK {
			t.Fatalf("the owner's own GetFile after the refusals: %d", code)
		}
	})
	t.Run("listing, checking names and usage by another application are 403", func(t *testing.T) {
		for _, r := range []struct{ verb, path string }{
			{"GET", "/v1/files?category=file&owner%5Bapplication_id%5D=222"},
			{"GET", "/v1/usage?category=file&owner%5Bapplication_id%5D=222"},
		} {
			if code, body := inst.restWithToken(t, mine, r.verb, r.path, nil); code != http.StatusForbidden {
				t.Fatalf("%s %s with a token for 111: %d %v, want 403", r.verb, r.path, code, body)
			}
		}
		code, body := inst.restWithToken(t, mine, "POST", "/v1/uploads:checkName", map[string]any{"category": "file", "display_name": "theirs", "owner": map[string]string{"application_id": "222"}})
		if code != http.StatusForbidden {
			t.Fatalf("CheckName in 222 with a token for 111: %d %v", code, body)
		}
		code, list := inst.restWithToken(t, mine, "GET", "/v1/files?category=file&owner%5Bapplication_id%5D=111", nil)
		if files, _ := field(list, "files").([]any); code != http.StatusOK || len(files) != 1 || str(files[0], "file_id") != str(own, "file.file_id") {
			t.Fatalf("ListFiles of 111 with a token for 111: %d %v, want its one file", code, list)
		}
	})
	t.Run("a token without the claim reaches no application", func(t *testing.T) {
		if code, body := create(noClaim, "111", "noclaim"); code != http.StatusForbidden {
			t.Fatalf("CreateUpload with no application_ids claim: %d %v", code, body)
		}
		if code, _ := inst.restWithToken(t, noClaim, "GET", "/v1/files/"+str(own, "file.file_id"), nil); code != http.StatusNotFound {
			t.Fatalf("GetFile with no application_ids claim: %d, want 404", code)
		}
	})
}

// TestSeedKYCDocumentsBlacklistedCustomer replays seed 000 with a
// customer the partner blacklists: once on the deny list of every
// document category, the customer gets no upload URL (403) and its stored
// documents are gone from every route (404, left out of lists), while
// other customers go on; lifting the entries restores access, all
// without a restart.
func TestSeedKYCDocumentsBlacklistedCustomer(t *testing.T) {
	t.Parallel()
	inst := startExample(t, "kyc-documents", nil)
	jpeg := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte("kyc"), 100)...)
	create := func(customer string) (int, map[string]any) {
		return inst.rest(t, "POST", "/v1/uploads", map[string]any{
			"category": "identity", "owner": map[string]string{"customer_id": customer},
			"filename": "passport.jpg", "content_type": "image/jpeg", "size_bytes": len(jpeg),
		})
	}
	code, created := create("customer_bad")
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	if code := upload(t, targetFromJSON(t, created["upload_target"]), jpeg); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	completeREST(t, inst, id)
	categories := []string{"identity", "identity_back", "proof_of_address", "liveness_check"}
	for _, c := range categories {
		if code, body := inst.rest(t, "POST", "/v1/admin/denyEntries", map[string]any{"category": c, "field": "customer_id", "value": "customer_bad", "reason": "blacklisted"}); code != http.StatusOK {
			t.Fatalf("AddDenyEntry %s: %d %v", c, code, body)
		}
	}
	if code, body := create("customer_bad"); code != http.StatusForbidden || !strings.Contains(str(body, "message"), "deny list") {
		t.Fatalf("CreateUpload for the blacklisted customer: %d %v, want 403 naming the deny list", code, body)
	}
	for _, r := range []struct{ verb, path string }{{"GET", "/v1/files/" + id}, {"POST", "/v1/files/" + id + ":download"}, {"DELETE", "/v1/files/" + id}} {
		if code, body := inst.rest(t, r.verb, r.path, nil); code != http.StatusNotFound {
			t.Fatalf("%s %s of the blacklisted customer's document: %d %v, want 404", r.verb, r.path, code, body)
		}
	}
	if code, list := inst.rest(t, "GET", "/v1/files?category=identity", nil); code != http.StatusOK || strings.Contains(fmt.Sprint(list), id) {
		t.Fatalf("ListFiles of identity: %d %v, want the blacklisted customer's document left out", code, list)
	}
	if code, body := create("customer_ok"); code != http.StatusOK {
		t.Fatalf("CreateUpload for another customer: %d %v", code, body)
	}
	if code, list := inst.rest(t, "GET", "/v1/admin/denyEntries?category=identity", nil); code != http.StatusOK || len(field(list, "deny_entries").([]any)) != 1 {
		t.Fatalf("ListDenyEntries of identity: %d %v", code, list)
	}
	for _, c := range categories {
		if code, body := inst.rest(t, "POST", "/v1/admin/denyEntries:remove", map[string]any{"category": c, "field": "customer_id", "value": "customer_bad"}); code != http.StatusOK {
			t.Fatalf("RemoveDenyEntry %s: %d %v", c, code, body)
		}
	}
	if code, body := inst.rest(t, "GET", "/v1/files/"+id, nil); code != http.StatusOK || str(body, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("GetFile after lifting the entries: %d %v", code, body)
	}
}
