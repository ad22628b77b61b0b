package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"syscall"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
)

// The presigners side by side: go test -bench . -run '^$' ./signer/s3/
// Both sign the same request at the same clock; the fast one is what
// SignUpload and SignDownload use.

func benchUpload() signer.UploadRequest {
	sum := sha256.Sum256([]byte("hello"))
	return signer.UploadRequest{
		Key: "tenants/acme/identity/0b5e3f2a-8c1d-4f7e-9a6b-2d3c4e5f6a7b.pdf", ContentType: "application/pdf",
		Size: 5, MaxSize: 10 << 20, ContentDisposition: `attachment; filename="passport scan.pdf"`,
		Checksum: signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(sum[:])},
		Expires:  fixedNow.Add(15 * time.Minute),
	}
}

func BenchmarkPresignPut(b *testing.B) {
	s := newTestSigner(b, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	req := benchUpload()
	ctx := context.Background()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.fast.signUpload(ctx, req, fixedNow, 900); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.sdkSignUpload(ctx, req, fixedNow, 900); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SignUpload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignUpload(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPresignGet(b *testing.B) {
	s := newTestSigner(b, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	req := signer.DownloadRequest{
		Key:                        benchUpload().Key,
		ResponseContentDisposition: `attachment; filename="passport scan.pdf"`,
		Expires:                    fixedNow.Add(5 * time.Minute),
	}
	ctx := context.Background()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.fast.signDownload(ctx, req, fixedNow, 300); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.sdkSignDownload(ctx, req, fixedNow, 300); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignPartBatch signs a batch of 1,000 part targets of one upload
// (what a client asks of SignParts at most), each binding its size and a
// SHA256 checksum: through SignPart (the fast presigner, with validation),
// and through the SDK's PresignUploadPart at the same clock. One op is the
// whole batch; ns/part is per part target.
//
//	go test -bench SignPartBatch -run '^$' ./signer/s3/
func BenchmarkSignPartBatch(b *testing.B) {
	const batch = 1000
	s := newTestSigner(b, Config{Endpoint: "http://127.0.0.1:9000", UsePathStyle: true})
	reqs := make([]signer.PartRequest, batch)
	for i := range reqs {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		reqs[i] = signer.PartRequest{
			Key:        benchUpload().Key,
			UploadID:   "ZjA1YjY1NmQtYjE1Ny00ZjNjLWE0ZmEtNjM4YjA2OWQ0ZDYzLmM0ZTE4YzZlLTA4NTAtNDY4OC1iOGYxLWNiYTEwYmU2MGQwZXgxNzk2NjczOTYyNzEwNjg2Mzkw",
			PartNumber: i + 1,
			Size:       8 << 20,
			Checksum:   signer.Checksum{Algorithm: signer.SHA256, Value: base64.StdEncoding.EncodeToString(sum[:])},
			Expires:    fixedNow.Add(time.Hour),
		}
	}
	ctx := context.Background()
	// ns/part is wall time; cpu-ns/part is the CPU time the process spent
	// (GC included), which a machine shared with other work inflates less.
	perPart := func(b *testing.B, cpu0 time.Duration) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/part")
		b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns/part")
	}
	b.Run("SignPart", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			for _, r := range reqs {
				if _, err := s.SignPart(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		}
		perPart(b, cpu0)
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			for _, r := range reqs {
				if _, err := s.sdkSignPart(ctx, r, fixedNow, 3600); err != nil {
					b.Fatal(err)
				}
			}
		}
		perPart(b, cpu0)
	})
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
