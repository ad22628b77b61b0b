package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/signertest"
	"github.com/presignd/presignd/store"
)

var (
	testPDF = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	testPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	// testEXE is the start of a Windows executable: an MZ header whose
	// e_lfanew points at a PE signature.
	testEXE = func() []byte {
		b := make([]byte, 1024)
		copy(b, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff")
		b[0x3c] = 0x80
		copy(b[0x80:], "PE\x00\x00L\x01")
		return b
	}()
)

// sniffCategory is a category of documents and images that sniffs (or
// not) its uploads' content.
func sniffCategory(name string, sniff bool) *policy.Category {
	c := policy.Default("local")
	c.Name = name
	c.ContentTypes = []string{"application/pdf", "image/*"}
	c.SniffContent = sniff
	return c
}

// complete uploads body declared as contentType in category and
// completes it.
func (e *testEnv) complete(t *testing.T, ctx context.Context, category, contentType string, body []byte) *presigndv1.File {
	t.Helper()
	created, err := e.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "f", ContentType: contentType, SizeBytes: int64(len(body)), Category: category})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	done, err := e.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	return done.GetFile()
}

// TestSniffContentAtCompletion: a category that sniffs fails an upload
// whose bytes are not what it declared, naming both types, and deletes
// its object; the detected type is kept; a category that does not sniff
// reads nothing.
func TestSniffContentAtCompletion(t *testing.T) {
	env := newTestEnvWith(t, envOptions{categories: []*policy.Category{sniffCategory("docs", true), sniffCategory("plain", false)}})
	ctx := env.as("acme")
	for _, tc := range []struct {
		name, category, declared string
		body                     []byte
		state                    presigndv1.FileState
		detected                 string
	}{
		{"a Windows executable declared as PDF fails", "docs", "application/pdf", testEXE, presigndv1.FileState_FILE_STATE_FAILED, "application/vnd.microsoft.portable-executable"},
		{"a real PDF passes", "docs", "application/pdf", testPDF, presigndv1.FileState_FILE_STATE_READY, "application/pdf"},
		{"a PNG in an image category passes", "docs", "image/png", testPNG, presigndv1.FileState_FILE_STATE_READY, "image/png"},
		{"a PNG declared as JPEG fails", "docs", "image/jpeg", testPNG, presigndv1.FileState_FILE_STATE_FAILED, "image/png"},
		{"the check is off for a category that does not ask", "plain", "application/pdf", testEXE, presigndv1.FileState_FILE_STATE_READY, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := env.complete(t, ctx, tc.category, tc.declared, tc.body)
			if f.GetState() != tc.state || f.GetDetectedContentType() != tc.detected {
				t.Fatalf("file %v detected %q (reason %q), want %v detected %q", f.GetState(), f.GetDetectedContentType(), f.GetFailureReason(), tc.state, tc.detected)
			}
			_, statErr := env.local.Stat(context.Background(), f.GetKey())
			if tc.state == presigndv1.FileState_FILE_STATE_FAILED {
				if !strings.Contains(f.GetFailureReason(), tc.declared) || !strings.Contains(f.GetFailureReason(), tc.detected) {
					t.Errorf("failure reason %q does not name the declared %q and the detected %q", f.GetFailureReason(), tc.declared, tc.detected)
				}
				if !errors.Is(statErr, signer.ErrNotFound) {
					t.Errorf("the refused object is still stored: Stat = %v", statErr)
				}
			} else if statErr != nil {
				t.Errorf("the accepted object is gone: %v", statErr)
			}
			got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: f.GetFileId()})
			if err != nil || got.GetFile().GetDetectedContentType() != tc.detected {
				t.Errorf("GetFile detected_content_type %q (%v), want %q", got.GetFile().GetDetectedContentType(), err, tc.detected)
			}
		})
	}
}

// TestSniffingNeedsAnObjectReader: a category that sniffs on a backend
// that cannot read objects back is a configuration error.
func TestSniffingNeedsAnObjectReader(t *testing.T) {
	env := newTestEnv(t)
	bare := struct{ signer.Signer }{env.local}
	for _, tc := range []struct {
		name   string
		sniff  bool
		driver map[string]signer.Capabilities
		ok     bool
	}{
		{"a category that sniffs is refused", true, nil, false},
		{"a category that does not sniff is accepted", false, nil, true},
		{"a category that sniffs is accepted when the wrapped driver reads", true, map[string]signer.Capabilities{"local": signer.CapabilitiesOf(env.local)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sniffCategory("docs", tc.sniff)
			_, err := New(Config{Store: env.store, Backends: map[string]signer.Signer{"local": bare}, DriverCapabilities: tc.driver,
				Categories: map[string]*policy.Category{"docs": c}, Secret: testSecret})
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), `"docs"`) {
				t.Errorf("error %q does not name the category", err)
			}
		})
	}
}

// TestPublicURL: READY files of a category with a public base URL, and
// their thumbnails, carry it, in gRPC, REST and FileJSON alike; pending
// files and other categories never do.
func TestPublicURL(t *testing.T) {
	pub := sniffCategory("pub", false)
	pub.PublicBaseURL = "https://cdn.example.com/files"
	env := newTestEnvWith(t, envOptions{categories: []*policy.Category{pub, sniffCategory("private", false)}})
	ctx := env.as("acme")

	ready := env.complete(t, ctx, "pub", "image/png", testPNG)
	want := "https://cdn.example.com/files/" + ready.GetKey()
	if ready.GetPublicUrl() != want || !ready.GetIsPublic() {
		t.Errorf("READY public file: public_url %q is_public %v, want %q true", ready.GetPublicUrl(), ready.GetIsPublic(), want)
	}
	rec, err := env.store.GetFile(context.Background(), "acme", ready.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.server.FileJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		PublicURL string `json:"public_url"`
		IsPublic  bool   `json:"is_public"`
	}
	if err := json.Unmarshal(b, &j); err != nil || j.PublicURL != want || !j.IsPublic {
		t.Errorf("FileJSON public_url %q is_public %v (%v), want %q true", j.PublicURL, j.IsPublic, err, want)
	}

	// Its thumbnails are public too, beside it.
	thumb := store.Thumbnail{Name: "small", Key: ready.GetKey() + "~thumbs/small.jpg", ContentType: "image/jpeg", Width: 8, Height: 8, SizeBytes: 99}
	if err := env.store.SetThumbnails(context.Background(), "acme", ready.GetFileId(), []store.Thumbnail{thumb}); err != nil {
		t.Fatal(err)
	}
	got, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: ready.GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	wantThumb := "https://cdn.example.com/files/" + thumb.Key
	if th := got.GetFile().GetThumbnails(); len(th) != 1 || th[0].GetPublicUrl() != wantThumb {
		t.Errorf("thumbnails of a READY public file: %v, want one with public_url %q", th, wantThumb)
	}
	if rec, err = env.store.GetFile(context.Background(), "acme", ready.GetFileId()); err != nil {
		t.Fatal(err)
	}
	if b, err = env.server.FileJSON(rec); err != nil {
		t.Fatal(err)
	}
	var jt struct {
		Thumbnails []struct {
			PublicURL string `json:"public_url"`
		} `json:"thumbnails"`
	}
	if err := json.Unmarshal(b, &jt); err != nil || len(jt.Thumbnails) != 1 || jt.Thumbnails[0].PublicURL != wantThumb {
		t.Errorf("FileJSON thumbnails %+v (%v), want one with public_url %q", jt.Thumbnails, err, wantThumb)
	}

	private := env.complete(t, ctx, "private", "image/png", testPNG)
	if private.GetPublicUrl() != "" || private.GetIsPublic() {
		t.Errorf("file of a category without a public base URL: public_url %q is_public %v", private.GetPublicUrl(), private.GetIsPublic())
	}
	created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "p.png", ContentType: "image/png", SizeBytes: 10, Category: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	if f := created.GetFile(); f.GetPublicUrl() != "" || f.GetIsPublic() {
		t.Errorf("PENDING file of a public category: public_url %q is_public %v", f.GetPublicUrl(), f.GetIsPublic())
	}
}

// BenchmarkCompleteUploadSniffing measures CompleteUpload (gRPC, SQLite,
// local backend) of a 64 KiB PDF in a category that sniffs content and in
// one that does not, one after the other in the same run; the upload of
// the bytes is outside the timer:
//
//	go test ./server -run '^$' -bench CompleteUploadSniffing -benchmem
func BenchmarkCompleteUploadSniffing(b *testing.B) {
	body := append(append([]byte(nil), testPDF...), make([]byte, 64<<10)...)
	for _, bc := range []struct {
		name  string
		sniff bool
	}{{"off", false}, {"on", true}} {
		b.Run(bc.name, func(b *testing.B) {
			env := newTestEnvWith(b, envOptions{categories: []*policy.Category{sniffCategory("docs", bc.sniff)}})
			ctx := env.as("acme")
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "f.pdf", ContentType: "application/pdf", SizeBytes: int64(len(body)), Category: "docs"})
				if err != nil {
					b.Fatal(err)
				}
				resp, err := signertest.Upload(context.Background(), http.DefaultClient, targetOf(b, created.GetUploadTarget()), body)
				if err != nil || resp.StatusCode/100 != 2 {
					b.Fatalf("upload: %v %v", resp, err)
				}
				resp.Body.Close()
				b.StartTimer()
				done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
				if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
					b.Fatalf("complete: %v %v", done, err)
				}
			}
		})
	}
}
