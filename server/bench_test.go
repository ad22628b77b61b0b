package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// BenchmarkGRPCEcho is the baseline for BenchmarkCreateUploadGRPC: a bare
// unary RPC (the health service's Check, no interceptors) over the same
// loopback transport. Compare the two in one run:
//
//	go test ./server -run '^$' -bench 'GRPCEcho|CreateUploadGRPC' -benchmem
func BenchmarkGRPCEcho(b *testing.B) {
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateUploadGRPC measures a whole CreateUpload over loopback
// gRPC: interceptors (auth lookup in SQLite, protovalidate), policy, key
// rendering, local signing and the SQLite insert.
func BenchmarkCreateUploadGRPC(b *testing.B) {
	env := newTestEnv(b)
	ctx := env.as("acme")
	req := &presigndv1.CreateUploadRequest{Filename: "photo.jpg", ContentType: "image/jpeg", SizeBytes: 123456}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := env.client.CreateUpload(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateUploadValidateOnlyGRPC measures concurrent gRPC calls
// through the whole chain and handler without the store write: 64 at a
// time over one connection, CreateUpload with validate_only set. Under
// concurrency a call's CPU includes the server's cost of running it on a
// goroutine (see NewGRPCServer's stream workers).
func BenchmarkCreateUploadValidateOnlyGRPC(b *testing.B) {
	env := newTestEnv(b)
	ctx := env.as("acme")
	req := &presigndv1.CreateUploadRequest{Filename: "photo.jpg", ContentType: "image/jpeg", SizeBytes: 123456, ValidateOnly: true}
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := env.client.CreateUpload(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkValidateCreateUpload measures the protovalidate rules of a
// typical CreateUploadRequest (including the CEL content_type rule), with
// an empty message through the same validator as the baseline:
//
//	go test ./server -run '^$' -bench ValidateCreateUpload -benchmem
func BenchmarkValidateCreateUpload(b *testing.B) {
	v, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		msg  proto.Message
	}{
		{"empty message", &emptypb.Empty{}},
		{"CreateUploadRequest", &presigndv1.CreateUploadRequest{
			Category: "avatars", Filename: "photo.png", ContentType: "image/png", SizeBytes: 1234,
			Owner: map[string]string{"customer_id": "c1"},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Validate(bc.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignPartsGRPC measures a SignParts of 1000 part targets over
// loopback gRPC (auth, one record read, 1000 local signatures, the
// answer's encoding); ns/op divided by 1000 is the cost of a part target:
//
//	go test ./server -run '^$' -bench SignPartsGRPC -benchmem
func BenchmarkSignPartsGRPC(b *testing.B) {
	env := newTestEnv(b, multipartCategory("big"))
	ctx := env.as("acme")
	created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Category: "big", Filename: "big.bin", ContentType: "application/octet-stream",
		SizeBytes: 1000 * mpPart, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART})
	if err != nil {
		b.Fatal(err)
	}
	req := &presigndv1.SignPartsRequest{FileId: created.GetFile().GetFileId()}
	for n := int32(1); n <= 1000; n++ {
		req.PartNumbers = append(req.PartNumbers, n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := env.client.SignParts(ctx, req)
		if err != nil || len(resp.GetParts()) != 1000 {
			b.Fatal(len(resp.GetParts()), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "µs/part")
}

// BenchmarkSignPartsREST is BenchmarkSignPartsGRPC over the REST gateway
// on a loopback socket (the JSON request decoded, the answer encoded by
// hand):
//
//	go test ./server -run '^$' -bench SignParts -benchmem
func BenchmarkSignPartsREST(b *testing.B) {
	env := newTestEnv(b, multipartCategory("big"))
	created, err := env.client.CreateUpload(env.as("acme"), &presigndv1.CreateUploadRequest{Category: "big", Filename: "big.bin", ContentType: "application/octet-stream",
		SizeBytes: 1000 * mpPart, Method: presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART})
	if err != nil {
		b.Fatal(err)
	}
	var body strings.Builder
	body.WriteString(`{"part_numbers":[1`)
	for n := 2; n <= 1000; n++ {
		fmt.Fprintf(&body, ",%d", n)
	}
	body.WriteString(`]}`)
	url := env.restURL + "/v1/files/" + created.GetFile().GetFileId() + "/parts:sign"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body.String()))
		req.Header.Set("Authorization", "Bearer "+env.keys["acme"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n < 1000*100 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "µs/part")
}
