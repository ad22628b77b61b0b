package server

import (
	"testing"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// TestRequestHashIsStable pins requestHash's digests: records store them,
// and a retry of a request (same request_id) is compared by digest, so a
// digest that changed would refuse retries of files created before.
func TestRequestHashIsStable(t *testing.T) {
	for _, c := range []struct {
		name string
		req  *presigndv1.CreateUploadRequest
		want string
	}{
		{"an empty request", &presigndv1.CreateUploadRequest{}, "9de815b2f0d29d891adfd026e900b032136f2e4e70ea0333cfd516610e583bdb"},
		{"a typical request", &presigndv1.CreateUploadRequest{Filename: "doc-1.pdf", ContentType: "application/pdf", SizeBytes: 654321}, "7d6f75e36156af1a90a535d9f1f591452956880ec5ba7ceb1f7593a2e030fa12"},
		{"every field", &presigndv1.CreateUploadRequest{
			Category: "avatars", Filename: "photo.png", ContentType: "image/png", SizeBytes: -7,
			Checksum:    &presigndv1.Checksum{Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256, Value: "abc="},
			Method:      presigndv1.UploadMethod_UPLOAD_METHOD_POST,
			DisplayName: "Photo; 1:2", Owner: map[string]string{"b": "2", "a": "1"}, Metadata: map[string]string{"k": "v:;"},
			RequestId: "r-1", ValidateOnly: true,
		}, "153db60a36911b7fd668722de8e465650f90226777c6734a21ad6c0c340de7dd"},
		{"unnamed enum numbers", &presigndv1.CreateUploadRequest{
			Checksum: &presigndv1.Checksum{Algorithm: 77}, Method: 99,
		}, "0020c4acf53ce642ab5b41b59c53c337dee5405f79092739a001dfa29fcffc24"},
	} {
		if got := requestHash(c.req); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestRequestHashTellsPartChecksumsApart checks that a request that binds
// part checksums is not a retry of one that binds none or another.
func TestRequestHashTellsPartChecksumsApart(t *testing.T) {
	req := func(a presigndv1.ChecksumAlgorithm) *presigndv1.CreateUploadRequest {
		return &presigndv1.CreateUploadRequest{Filename: "big.bin", ContentType: "application/octet-stream", SizeBytes: 1 << 30, PartChecksumAlgorithm: a}
	}
	seen := map[string]string{}
	for _, a := range []presigndv1.ChecksumAlgorithm{
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_UNSPECIFIED,
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256,
		presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_CRC32C,
	} {
		h := requestHash(req(a))
		if prev, ok := seen[h]; ok {
			t.Errorf("part checksum %s digests as %s does", a, prev)
		}
		seen[h] = a.String()
	}
}

// BenchmarkRequestHash measures the digest of a typical CreateUpload.
func BenchmarkRequestHash(b *testing.B) {
	req := &presigndv1.CreateUploadRequest{Filename: "doc-1.pdf", ContentType: "application/pdf", SizeBytes: 654321,
		Owner: map[string]string{"customer_id": "c1"}}
	b.ReportAllocs()
	for b.Loop() {
		requestHash(req)
	}
}
