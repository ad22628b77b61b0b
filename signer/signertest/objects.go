package signertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

var objectCases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"ReadObject returns the range asked for, clipped to the object", testReadRanges},
	{"ReadObject of a missing object returns ErrNotFound", testReadMissing},
	{"ReadObject with a negative offset returns ErrUnsupported", testReadNegativeOffset},
	{"WriteObject stores an object that Stat, ReadObject and a download see", testWriteReadBack},
	{"WriteObject replaces an uploaded object", testWriteReplaces},
	{"WriteObject stores an empty object", testWriteEmpty},
	{"WriteObject from a reader shorter or longer than the size stores nothing", testWriteWrongSize},
	{"ReadObject and WriteObject refuse keys ValidateKey rejects with ErrInvalidKey", testObjectsInvalidKeys},
}

// objects returns the signer's reader and writer, skipping the case when
// the harness does not claim them and failing when claim and signer
// disagree.
func (e *env) objects(t *testing.T) (signer.ObjectReader, signer.ObjectWriter) {
	t.Helper()
	c := signer.CapabilitiesOf(e.signer)
	has := c.Reader != nil && c.Writer != nil
	switch {
	case has && !e.caps.Objects:
		t.Fatal("the signer implements signer.ObjectReader and signer.ObjectWriter but Capabilities.Objects is not set")
	case !has && e.caps.Objects:
		t.Fatal("Capabilities.Objects is set but the signer does not implement signer.ObjectReader and signer.ObjectWriter")
	case !has:
		t.Skip("the backend does not read or write objects")
	}
	return c.Reader, c.Writer
}

// read reads key[offset:offset+length] with ReadObject, failing t on an
// error.
func read(t *testing.T, e *env, r signer.ObjectReader, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := r.ReadObject(e.ctx, key, offset, length)
	if err != nil {
		t.Fatalf("ReadObject(%d, %d): %v", offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("ReadObject(%d, %d): reading the body: %v", offset, length, err)
	}
	return b
}

func testReadRanges(t *testing.T, e *env) {
	r, _ := e.objects(t)
	body := payload(1000)
	req := e.uploadRequest("read", body)
	e.mustUpload(t, e.signUpload(t, req), body)
	for _, tc := range []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"the start", 0, 100, body[:100]},
		{"the middle", 400, 200, body[400:600]},
		{"the whole object with length -1", 0, -1, body},
		{"from the middle to the end with length -1", 900, -1, body[900:]},
		{"a length past the end, clipped", 900, 500, body[900:]},
		{"exactly the last byte", 999, 1, body[999:]},
		{"an offset at the end, empty", 1000, 10, nil},
		{"an offset past the end, empty", 5000, -1, nil},
		{"a zero length, empty", 10, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := read(t, e, r, req.Key, tc.offset, tc.length); !bytes.Equal(got, tc.want) {
				t.Errorf("ReadObject(%d, %d) = %d bytes %q, want %d bytes %q", tc.offset, tc.length, len(got), short(got), len(tc.want), short(tc.want))
			}
		})
	}
}

func testReadMissing(t *testing.T, e *env) {
	r, _ := e.objects(t)
	key := "signertest/missing-" + randomSuffix()
	for _, length := range []int64{-1, 16, 0} {
		rc, err := r.ReadObject(e.ctx, key, 0, length)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, signer.ErrNotFound) {
			t.Errorf("ReadObject(0, %d) of a missing object: error %v, want one wrapping ErrNotFound", length, err)
		}
	}
}

func testReadNegativeOffset(t *testing.T, e *env) {
	r, _ := e.objects(t)
	body := payload(10)
	req := e.uploadRequest("negative", body)
	e.mustUpload(t, e.signUpload(t, req), body)
	rc, err := r.ReadObject(e.ctx, req.Key, -1, 4)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, signer.ErrUnsupported) {
		t.Errorf("ReadObject(-1, 4): error %v, want one wrapping ErrUnsupported", err)
	}
}

func testWriteReadBack(t *testing.T, e *env) {
	r, w := e.objects(t)
	body := payload(70 << 10) // more than one copy buffer
	key := "signertest/written-" + randomSuffix() + "/thumb 64.webp"
	if err := w.WriteObject(e.ctx, key, bytes.NewReader(body), int64(len(body)), "image/webp"); err != nil {
		t.Fatalf("WriteObject: %v", err)
	}
	info := e.mustStat(t, key)
	if info.Size != int64(len(body)) || info.ContentType != "image/webp" {
		t.Errorf("Stat = size %d, type %q; want %d, image/webp", info.Size, info.ContentType, len(body))
	}
	if got := read(t, e, r, key, 0, -1); !bytes.Equal(got, body) {
		t.Errorf("ReadObject returned %d bytes, not the %d written", len(got), len(body))
	}
	if got := read(t, e, r, key, 1<<10, 16); !bytes.Equal(got, body[1<<10:1<<10+16]) {
		t.Errorf("ReadObject(1024, 16) = %q, want %q", got, body[1<<10:1<<10+16])
	}
	resp, got := e.download(t, signer.DownloadRequest{Key: key, Expires: time.Now().Add(10 * time.Minute)})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("download: status %d, %d bytes; want 200 and the %d written", resp.StatusCode, len(got), len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/webp" {
		t.Errorf("download Content-Type %q, want image/webp", ct)
	}
}

func testWriteReplaces(t *testing.T, e *env) {
	r, w := e.objects(t)
	first := payload(300)
	req := e.uploadRequest("replaced", first)
	e.mustUpload(t, e.signUpload(t, req), first)
	second := []byte("derived bytes")
	if err := w.WriteObject(e.ctx, req.Key, bytes.NewReader(second), int64(len(second)), "text/plain"); err != nil {
		t.Fatalf("WriteObject over an uploaded object: %v", err)
	}
	if got := read(t, e, r, req.Key, 0, -1); !bytes.Equal(got, second) {
		t.Errorf("ReadObject = %q, want the bytes written last, %q", short(got), second)
	}
	if info := e.mustStat(t, req.Key); info.Size != int64(len(second)) || info.ContentType != "text/plain" {
		t.Errorf("Stat = size %d, type %q; want %d, text/plain", info.Size, info.ContentType, len(second))
	}
}

func testWriteEmpty(t *testing.T, e *env) {
	r, w := e.objects(t)
	key := "signertest/empty-" + randomSuffix()
	if err := w.WriteObject(e.ctx, key, strings.NewReader(""), 0, "application/octet-stream"); err != nil {
		t.Fatalf("WriteObject of 0 bytes: %v", err)
	}
	if info := e.mustStat(t, key); info.Size != 0 {
		t.Errorf("Stat size %d, want 0", info.Size)
	}
	if got := read(t, e, r, key, 0, -1); len(got) != 0 {
		t.Errorf("ReadObject = %d bytes, want none", len(got))
	}
	if got := read(t, e, r, key, 0, 100); len(got) != 0 {
		t.Errorf("ReadObject(0, 100) = %d bytes, want none", len(got))
	}
}

// testWriteWrongSize: a reader that disagrees with the size leaves no
// object at a fresh key, and leaves an existing object as it was.
func testWriteWrongSize(t *testing.T, e *env) {
	r, w := e.objects(t)
	body := payload(4096)
	for _, tc := range []struct {
		name string
		src  []byte
		size int64
	}{
		{"a reader one byte short", body[:len(body)-1], int64(len(body))},
		{"a reader one byte long", body, int64(len(body) - 1)},
		{"a reader far longer", body, 10},
		{"a non-empty reader for size 0", body[:1], 0},
		{"an empty reader", nil, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "signertest/wrong-size-" + randomSuffix()
			if err := w.WriteObject(e.ctx, key, bytes.NewReader(tc.src), tc.size, "application/octet-stream"); err == nil {
				t.Errorf("WriteObject of %d bytes as %d: nil error, want one", len(tc.src), tc.size)
			}
			e.mustNotExist(t, key)

			old := []byte("the object before")
			req := e.uploadRequest("kept", old)
			e.mustUpload(t, e.signUpload(t, req), old)
			if err := w.WriteObject(e.ctx, req.Key, bytes.NewReader(tc.src), tc.size, "application/octet-stream"); err == nil {
				t.Errorf("WriteObject over an object, %d bytes as %d: nil error, want one", len(tc.src), tc.size)
			}
			if got := read(t, e, r, req.Key, 0, -1); !bytes.Equal(got, old) {
				t.Errorf("after a failed WriteObject the object holds %q, want %q", short(got), old)
			}
		})
	}
}

func testObjectsInvalidKeys(t *testing.T, e *env) {
	r, w := e.objects(t)
	for _, k := range invalidKeys {
		t.Run(k.name, func(t *testing.T) {
			rc, err := r.ReadObject(e.ctx, k.key, 0, 16)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("ReadObject: error %v, want one wrapping ErrInvalidKey", err)
			}
			if err := w.WriteObject(e.ctx, k.key, strings.NewReader("x"), 1, "text/plain"); !errors.Is(err, signer.ErrInvalidKey) {
				t.Errorf("WriteObject: error %v, want one wrapping ErrInvalidKey", err)
			}
		})
	}
}
