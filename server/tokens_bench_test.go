package server

import "testing"

// BenchmarkSignedIDMake measures the signed id CreateUpload and every file
// answer carry (fileToProto):
//
//	go test ./server -run '^$' -bench SignedIDMake -benchmem
func BenchmarkSignedIDMake(b *testing.B) {
	ids, err := newSignedIDs([]byte("0123456789abcdef0123456789abcdef"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ids.make("acme", "0193c0de-7a1b-7c2d-8e3f-405162738495")
	}
}
