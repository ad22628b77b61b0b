package azure

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/presignd/presignd/signer"
)

func TestReadObject(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := t.Context()
	body := []byte("0123456789abcdefghij")
	if err := s.WriteObject(ctx, "r/obj", bytes.NewReader(body), int64(len(body)), "text/plain"); err != nil {
		t.Fatalf("WriteObject: %v", err)
	}
	cases := []struct {
		name           string
		offset, length int64
		want           string
	}{
		{"a read from the start to the end returns every byte", 0, -1, string(body)},
		{"a ranged read returns length bytes from offset", 5, 4, "5678"},
		{"a read from an offset to the end returns the tail", 15, -1, "fghij"},
		{"a length past the end returns what there is", 18, 10, "ij"},
		{"an offset at the end gives an empty body", 20, -1, ""},
		{"an offset past the end gives an empty body", 50, 3, ""},
		{"a zero length gives an empty body", 3, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := s.ReadObject(ctx, "r/obj", tc.offset, tc.length)
			if err != nil {
				t.Fatalf("ReadObject: %v", err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name           string
		key            string
		offset, length int64
		want           error
	}{
		{"a missing object is ErrNotFound", "r/missing", 0, -1, signer.ErrNotFound},
		{"a missing object read from an offset is ErrNotFound", "r/missing", 10, 5, signer.ErrNotFound},
		{"a missing object read for zero bytes is ErrNotFound", "r/missing", 0, 0, signer.ErrNotFound},
		{"a bad key is ErrInvalidKey", "../x", 0, -1, signer.ErrInvalidKey},
		{"a negative offset is ErrUnsupported", "r/obj", -1, -1, signer.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ReadObject(ctx, tc.key, tc.offset, tc.length); !errors.Is(err, tc.want) {
				t.Errorf("ReadObject: %v, want one wrapping %v", err, tc.want)
			}
		})
	}
}

func TestWriteObject(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := t.Context()
	body := bytes.Repeat([]byte("thumbnail "), 1000)
	t.Run("an exactly sized body is stored with its type, replacing the object there", func(t *testing.T) {
		if err := s.WriteObject(ctx, "w/obj", strings.NewReader("old"), 3, "text/plain"); err != nil {
			t.Fatalf("WriteObject: %v", err)
		}
		if err := s.WriteObject(ctx, "w/obj", iotest.HalfReader(bytes.NewReader(body)), int64(len(body)), "image/webp"); err != nil {
			t.Fatalf("WriteObject: %v", err)
		}
		info, err := s.Stat(ctx, "w/obj")
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if info.Size != int64(len(body)) || info.ContentType != "image/webp" {
			t.Errorf("Stat = %+v, want %d bytes of image/webp", info, len(body))
		}
	})
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"a body longer than the size stores nothing", int64(len(body)) - 1},
		{"a body shorter than the size stores nothing", int64(len(body)) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "w/" + randomHex()
			if err := s.WriteObject(ctx, key, bytes.NewReader(body), tc.size, "image/webp"); err == nil {
				t.Fatal("WriteObject succeeded")
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
				t.Errorf("Stat after a refused write: %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("a bad key is ErrInvalidKey", func(t *testing.T) {
		if err := s.WriteObject(ctx, "a//b", strings.NewReader("x"), 1, "text/plain"); !errors.Is(err, signer.ErrInvalidKey) {
			t.Errorf("WriteObject: %v, want ErrInvalidKey", err)
		}
	})
}
