package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

func TestBlockIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{1, 2, 9, 10, 99999 % MaxBlocks, MaxBlocks} {
		id := blockID(n)
		if len(id) != len(blockID(1)) {
			t.Errorf("blockID(%d) = %q: %d characters, want %d like every other", n, id, len(id), len(blockID(1)))
		}
		if seen[id] {
			t.Errorf("blockID(%d) = %q repeats", n, id)
		}
		seen[id] = true
		if got, ok := parseBlockID(&id); !ok || got != n {
			t.Errorf("parseBlockID(blockID(%d)) = %d, %v", n, got, ok)
		}
	}
	for _, raw := range []string{"", "cGFydC0wMDAwMA==", "cGFydC0rMDAwMQ==", "cGFydC01MDAwMQ==", "eHh4eHgwMDAwMQ==", "!!"} {
		if n, ok := parseBlockID(&raw); ok {
			t.Errorf("parseBlockID(%q) = %d, true; want false", raw, n)
		}
	}
}

// mpFixture is one started multipart upload on Azurite.
type mpFixture struct {
	s   *Signer
	req signer.UploadRequest
	id  string
}

func newMultipart(t *testing.T, s *Signer, key string) mpFixture {
	t.Helper()
	req := signer.UploadRequest{Key: key, ContentType: "text/plain", ContentDisposition: `attachment; filename="a.txt"`,
		Expires: time.Now().Add(time.Hour)}
	id, err := s.CreateMultipart(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	return mpFixture{s: s, req: req, id: id}
}

// put sends body as part n and requires Azure to take it.
func (f mpFixture) put(t *testing.T, n int, body []byte) signer.UploadTarget {
	t.Helper()
	target, err := f.s.SignPart(t.Context(), signer.PartRequest{Key: f.req.Key, UploadID: f.id, PartNumber: n,
		Size: int64(len(body)), Expires: time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatalf("SignPart(%d): %v", n, err)
	}
	if status, got := send(t, http.MethodPut, target.URL, target.Headers, body); status != http.StatusCreated {
		t.Fatalf("PUT part %d: status %d, body %q", n, status, got)
	}
	return target
}

func (f mpFixture) complete(t *testing.T, sizes ...int64) error {
	t.Helper()
	parts := make([]signer.Part, len(sizes))
	for i, size := range sizes {
		parts[i] = signer.Part{PartNumber: i + 1, Size: size}
	}
	return f.s.CompleteMultipart(t.Context(), f.req.Key, f.id, parts)
}

func (f mpFixture) read(t *testing.T) []byte {
	t.Helper()
	r, err := f.s.ReadObject(t.Context(), f.req.Key, 0, -1)
	if err != nil {
		t.Fatalf("ReadObject: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("ReadObject: %v", err)
	}
	return b
}

// TestPartTargetAbuse: what the holder of a part target (a write SAS) can
// try against the object, on Azurite. Each attempt must be refused or land
// where no completion takes it from.
func TestPartTargetAbuse(t *testing.T) {
	s := newServerSigner(t, nil)
	one, two := bytes.Repeat([]byte("1"), 1000), []byte("the last part")

	t.Run("a part target reaches neither the object's key nor another blob", func(t *testing.T) {
		f := newMultipart(t, s, "abuse/object")
		target := f.put(t, 1, one)
		f.put(t, 2, two)
		if err := f.complete(t, 1000, int64(len(two))); err != nil {
			t.Fatalf("CompleteMultipart: %v", err)
		}
		staging := s.blobURL(stagingPrefix + f.id)
		query := target.URL[strings.Index(target.URL, "?"):]
		sasOnly := "?" + query[strings.Index(query, "&se=")+1:]
		for _, u := range []string{
			s.blobURL(f.req.Key) + query,   // Put Block to the object
			s.blobURL(f.req.Key) + sasOnly, // Put Blob over the object
			s.blobURL("abuse/other") + sasOnly,
		} {
			if status, got := send(t, http.MethodPut, u, map[string]string{"x-ms-blob-type": "BlockBlob"}, []byte("evil")); status != http.StatusForbidden {
				t.Errorf("PUT %s with a part target's SAS: status %d, want 403; body %q", u, status, got)
			}
		}
		// Put Blob to the staging name is allowed by the SAS; it makes a
		// blob that no longer matters.
		if status, got := send(t, http.MethodPut, staging+sasOnly, map[string]string{"x-ms-blob-type": "BlockBlob"}, []byte("evil")); status != http.StatusCreated {
			t.Logf("Put Blob to the finished upload's staging name: status %d, body %q", status, got)
		}
		if got, want := f.read(t), append(append([]byte{}, one...), two...); !bytes.Equal(got, want) {
			t.Errorf("the object holds %q..., want the parts", got[:min(len(got), 20)])
		}
		if _, err := s.Stat(t.Context(), "abuse/other"); !errors.Is(err, signer.ErrNotFound) {
			t.Errorf("Stat(abuse/other) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a staging blob replaced by its holder fails the completion", func(t *testing.T) {
		f := newMultipart(t, s, "abuse/replaced")
		target := f.put(t, 1, one)
		query := target.URL[strings.Index(target.URL, "?"):]
		sasOnly := "?" + query[strings.Index(query, "&se=")+1:]
		// Put Blob discards the uncommitted blocks.
		if status, got := send(t, http.MethodPut, s.blobURL(stagingPrefix+f.id)+sasOnly, map[string]string{"x-ms-blob-type": "BlockBlob"}, []byte("evil")); status != http.StatusCreated {
			t.Fatalf("Put Blob to the staging blob: status %d, body %q", status, got)
		}
		// Azure discards the blocks, so the completion fails naming the
		// part; Azurite keeps them, so the object is made of the part.
		// Either way the holder's bytes never reach the object.
		switch err := f.complete(t, 1000); {
		case err == nil:
			if got := f.read(t); !bytes.Equal(got, one) {
				t.Errorf("the object holds %q..., want part 1's bytes", got[:min(len(got), 20)])
			}
		case !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 1"):
			t.Fatalf("CompleteMultipart after the staging blob was replaced: %v, want ErrInvalidPart naming part 1", err)
		default:
			if _, err := s.Stat(t.Context(), f.req.Key); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("Stat of the key = %v, want ErrNotFound", err)
			}
		}
	})

	t.Run("an object already at the key is never replaced", func(t *testing.T) {
		f := newMultipart(t, s, "abuse/taken")
		f.put(t, 1, one)
		if err := s.WriteObject(t.Context(), f.req.Key, bytes.NewReader([]byte("first")), 5, "text/plain"); err != nil {
			t.Fatalf("WriteObject: %v", err)
		}
		if err := f.complete(t, 1000); !errors.Is(err, signer.ErrInvalidPart) {
			t.Fatalf("CompleteMultipart over an object it did not make: %v, want ErrInvalidPart", err)
		}
		if got := f.read(t); string(got) != "first" {
			t.Errorf("the object at the key holds %q, want %q", got, "first")
		}
	})

	t.Run("a part sent under another part's number fails on its size", func(t *testing.T) {
		f := newMultipart(t, s, "abuse/moved")
		target := f.put(t, 1, one)
		moved := strings.Replace(target.URL, "blockid="+strings.ReplaceAll(blockID(1), "=", "%3D"), "blockid="+strings.ReplaceAll(blockID(2), "=", "%3D"), 1)
		if moved == target.URL {
			t.Fatalf("no block id in %s", target.URL)
		}
		if status, got := send(t, http.MethodPut, moved, nil, one); status != http.StatusCreated {
			t.Fatalf("PUT of part 1's bytes as part 2: status %d, body %q", status, got)
		}
		err := f.complete(t, 1000, int64(len(two)))
		if !errors.Is(err, signer.ErrInvalidPart) || !strings.Contains(err.Error(), "part 2") {
			t.Fatalf("CompleteMultipart: %v, want ErrInvalidPart naming part 2", err)
		}
	})
}

// failingDeletes fails the DELETE of staging blobs while armed.
type failingDeletes struct {
	armed atomic.Bool
	next  http.RoundTripper
}

func (f *failingDeletes) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.armed.Load() && r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "~multipart") {
		return nil, errors.New("connection reset (test)")
	}
	return f.next.RoundTrip(r)
}

// TestCompleteMultipartResumes: a completion that stops after its copy
// (here, the staging blob's delete fails) is finished by the next call,
// which recognises its own copy at the key.
func TestCompleteMultipartResumes(t *testing.T) {
	tr := &failingDeletes{next: http.DefaultTransport}
	s := newServerSigner(t, func(c *Config) { c.HTTPClient = &http.Client{Transport: tr} })
	f := newMultipart(t, s, "resume/object")
	f.put(t, 1, []byte("abc"))
	f.put(t, 2, []byte("def"))
	tr.armed.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := s.CompleteMultipart(ctx, f.req.Key, f.id, []signer.Part{{PartNumber: 1}, {PartNumber: 2}}); err == nil {
		t.Fatal("CompleteMultipart with the staging delete failing: no error")
	}
	tr.armed.Store(false)
	if parts, err := s.ListParts(t.Context(), f.req.Key, f.id); err != nil || len(parts) != 2 {
		t.Fatalf("ListParts after the interrupted completion = %+v, %v; want both parts", parts, err)
	}
	if err := f.complete(t, 3, 3); err != nil {
		t.Fatalf("CompleteMultipart again: %v", err)
	}
	if got := f.read(t); string(got) != "abcdef" {
		t.Errorf("object = %q, want abcdef", got)
	}
	info, err := s.Stat(t.Context(), f.req.Key)
	if err != nil || info.ContentType != "text/plain" {
		t.Errorf("Stat = %+v, %v; want text/plain", info, err)
	}
	if _, err := s.ListParts(t.Context(), f.req.Key, f.id); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ListParts after completion: %v, want ErrNotFound", err)
	}
}
