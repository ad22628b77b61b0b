package local

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

func benchSigner(b *testing.B) *Signer {
	b.Helper()
	s, err := New(Config{Dir: b.TempDir(), BaseURL: "http://127.0.0.1:8080", Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

var benchUpload = signer.UploadRequest{
	Key:                "tenant-1/default/0b6f2a4e-8f5e-4c1e-9a57-2d7f1c3b9e10.pdf",
	ContentType:        "application/pdf",
	Size:               123456,
	MaxSize:            10 << 20,
	Checksum:           signer.Checksum{Algorithm: signer.SHA256, Value: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	ContentDisposition: `attachment; filename="release form.pdf"`,
	Expires:            time.Unix(1_900_000_000, 0),
}

// BenchmarkSignUpload measures signing a local PUT target with every bound
// value set. Compare with BenchmarkHMACBaseline.
func BenchmarkSignUpload(b *testing.B) {
	s := benchSigner(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignUpload(ctx, benchUpload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMACBaseline is the floor for BenchmarkSignUpload: one
// hmac.New, Write and Sum over a string as long as the upload's canonical
// string.
func BenchmarkHMACBaseline(b *testing.B) {
	s := benchSigner(b)
	g, err := s.uploadGrant("PUT", benchUpload)
	if err != nil {
		b.Fatal(err)
	}
	msg := g.canonical(nil)
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(sha256.New, s.secret)
		h.Write(msg)
		_ = h.Sum(nil)
	}
}

// BenchmarkAuthorizeQuery measures verifying a signed PUT URL.
func BenchmarkAuthorizeQuery(b *testing.B) {
	s := benchSigner(b)
	target, err := s.SignUpload(context.Background(), benchUpload)
	if err != nil {
		b.Fatal(err)
	}
	s.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	u, _ := url.Parse(target.URL)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.authorizeQuery("PUT", u.Path, u.RawQuery); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignPart measures signing one part target with a bound SHA-256
// part checksum, as SignParts does up to a thousand times per call.
func BenchmarkSignPart(b *testing.B) {
	s := benchSigner(b)
	ctx := context.Background()
	req := signer.PartRequest{
		Key:        benchUpload.Key,
		UploadID:   "0123456789abcdef0123456789abcdef",
		PartNumber: 1234,
		Size:       8 << 20,
		Checksum:   benchUpload.Checksum,
		Expires:    time.Unix(1_900_000_000, 0),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignPart(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignPartNoChecksum is BenchmarkSignPart without a part
// checksum (no headers map).
func BenchmarkSignPartNoChecksum(b *testing.B) {
	s := benchSigner(b)
	ctx := context.Background()
	req := signer.PartRequest{
		Key:        benchUpload.Key,
		UploadID:   "0123456789abcdef0123456789abcdef",
		PartNumber: 1234,
		Size:       8 << 20,
		Expires:    time.Unix(1_900_000_000, 0),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignPart(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompleteMultipart measures CompleteMultipart of a 64 MiB
// object in 5 MiB parts (the parts are written directly by receivePart and
// commitPart, outside the timer): checking the parts, streaming them into
// a synced file with three digests, and the atomic publish.
func BenchmarkCompleteMultipart(b *testing.B) {
	s := benchSigner(b)
	ctx := context.Background()
	const size, partSize = 64 << 20, 5 << 20
	buf := make([]byte, partSize)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		key := fmt.Sprintf("bench/complete-%d", i)
		id, err := s.CreateMultipart(ctx, signer.UploadRequest{Key: key})
		if err != nil {
			b.Fatal(err)
		}
		var parts []signer.Part
		for n, left := 1, int64(size); left > 0; n++ {
			sz := min(left, partSize)
			g := &partGrant{key: key, uploadID: id, partNumber: n, size: sz}
			rec, tmp, err := s.receivePart(g, bytes.NewReader(buf[:sz]))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.commitPart(g, tmp, rec); err != nil {
				b.Fatal(err)
			}
			parts = append(parts, signer.Part{PartNumber: n, ETag: rec.ETag})
			left -= sz
		}
		b.StartTimer()
		if err := s.CompleteMultipart(ctx, key, id, parts); err != nil {
			b.Fatal(err)
		}
	}
}
