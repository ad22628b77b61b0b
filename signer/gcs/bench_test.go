package gcs_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// BenchmarkSign compares a signed PUT target and a signed GET URL made by
// the Signer with a bare RSA-2048 PKCS#1 v1.5 signature over the SHA-256 of
// the same string-to-sign (the difference is everything this package adds
// around the signature) and with the same targets made by
// cloud.google.com/go/storage's SignedURL (sdkSigner: key parsed once,
// SignBytes, URL tidied), the baseline.
func BenchmarkSign(b *testing.B) {
	b.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(b, "presignd-bench")
	s := newSigner(b, srv, false)
	defer s.Close()
	sdk := newSDKSigner(b, srv.Bucket, srv.URL, false, srv.CredentialsJSON)
	ctx := context.Background()
	up := signer.UploadRequest{
		Key:                "tenants/t1/releaseForms/0f8fad5b-d9cb-469f-a165-70867728950e.pdf",
		ContentType:        "application/pdf",
		ContentDisposition: `attachment; filename="release.pdf"`,
		Checksum:           signer.Checksum{Algorithm: signer.MD5, Value: md5Of([]byte("x"))},
		Size:               1,
		MaxSize:            10 << 20,
		Expires:            time.Now().Add(15 * time.Minute),
	}
	target, err := s.SignUpload(ctx, up)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, target.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	sts, err := gcstest.StringToSign(req)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("rsa.SignPKCS1v15", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum := sha256.Sum256(sts)
			if _, err := rsa.SignPKCS1v15(rand.Reader, srv.Key, crypto.SHA256, sum[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Signer.SignUpload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignUpload(ctx, up); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Signer.SignDownload", func(b *testing.B) {
		b.ReportAllocs()
		dl := signer.DownloadRequest{Key: up.Key, ResponseContentDisposition: `attachment; filename="release.pdf"`, Expires: up.Expires}
		for b.Loop() {
			if _, err := s.SignDownload(ctx, dl); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("storage.SignedURL/PUT", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdk.signUpload(up); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("storage.SignedURL/GET", func(b *testing.B) {
		b.ReportAllocs()
		dl := signer.DownloadRequest{Key: up.Key, ResponseContentDisposition: `attachment; filename="release.pdf"`, Expires: up.Expires}
		for b.Loop() {
			if _, err := sdk.signDownload(dl); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Interleaved: each iteration makes one bare signature, one SignUpload
	// and the library's PUT target, so load from other processes falls on
	// all alike. "signer/bare" and "sdk/bare" are the ratios of their total
	// times to the bare signatures'.
	b.Run("ratio", func(b *testing.B) {
		var bare, signed, library time.Duration
		for b.Loop() {
			t0 := time.Now()
			sum := sha256.Sum256(sts)
			if _, err := rsa.SignPKCS1v15(rand.Reader, srv.Key, crypto.SHA256, sum[:]); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := s.SignUpload(ctx, up); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if _, err := sdk.signUpload(up); err != nil {
				b.Fatal(err)
			}
			bare += t1.Sub(t0)
			signed += t2.Sub(t1)
			library += time.Since(t2)
		}
		b.ReportMetric(float64(signed)/float64(bare), "signer/bare")
		b.ReportMetric(float64(library)/float64(bare), "sdk/bare")
	})
}

// BenchmarkSignPart measures a multipart part target (SignPart: part
// number and upload id in the signed query, size range and CRC32C as
// signed headers) against a bare RSA-2048 signature over the same
// string-to-sign and against the same target made by
// cloud.google.com/go/storage's SignedURL. "batch" signs the 1,000 targets
// one SignParts call may ask for and reports µs per target for the Signer
// and the library, interleaved so that load from other processes falls on
// both alike.
func BenchmarkSignPart(b *testing.B) {
	b.Setenv("STORAGE_EMULATOR_HOST", "")
	srv := gcstest.NewServer(b, "presignd-bench")
	s := newSigner(b, srv, false)
	defer s.Close()
	sdk := newSDKSigner(b, srv.Bucket, srv.URL, false, srv.CredentialsJSON)
	ctx := context.Background()
	part := signer.PartRequest{
		Key:        "tenants/t1/videos/0f8fad5b-d9cb-469f-a165-70867728950e.mp4",
		UploadID:   "ABPnzm5VvVJ0Cw3w2h5qV0kU7E0wZb8r0P6S3a2nB4mC9dQ1eR7fT8gU6hX5iY4jZ3k",
		PartNumber: 17,
		Size:       8 << 20,
		Checksum:   signer.Checksum{Algorithm: signer.CRC32C, Value: "ImIEBA=="},
		Expires:    time.Now().Add(15 * time.Minute),
	}
	target, err := s.SignPart(ctx, part)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, target.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	sts, err := gcstest.StringToSign(req)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("rsa.SignPKCS1v15", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum := sha256.Sum256(sts)
			if _, err := rsa.SignPKCS1v15(rand.Reader, srv.Key, crypto.SHA256, sum[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Signer.SignPart", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignPart(ctx, part); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("storage.SignedURL/part", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdk.signPart(part); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		const batch = 1000
		var signed, library time.Duration
		for b.Loop() {
			t0 := time.Now()
			for n := 1; n <= batch; n++ {
				part.PartNumber = n
				if _, err := s.SignPart(ctx, part); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			for n := 1; n <= batch; n++ {
				part.PartNumber = n
				if _, err := sdk.signPart(part); err != nil {
					b.Fatal(err)
				}
			}
			signed += t1.Sub(t0)
			library += time.Since(t1)
		}
		per := float64(b.N * batch)
		b.ReportMetric(float64(signed.Microseconds())/per, "µs/target")
		b.ReportMetric(float64(library.Microseconds())/per, "sdk-µs/target")
		b.ReportMetric(float64(library)/float64(signed), "sdk/signer")
	})
}
