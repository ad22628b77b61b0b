package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// TestJSONMarshalerEncodesAsJSONPb checks that the gateway's marshaler
// writes what runtime.JSONPb writes, for messages of one type growing and
// shrinking past the size it expects and for values that are not
// messages.
func TestJSONMarshalerEncodesAsJSONPb(t *testing.T) {
	opts := runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}}
	ours := &jsonMarshaler{JSONPb: opts}
	file := func(name string) *presigndv1.CreateUploadResponse {
		return &presigndv1.CreateUploadResponse{
			File:         &presigndv1.File{FileId: "f-1", Filename: name, Owner: map[string]string{"customer_id": "c1"}},
			UploadTarget: &presigndv1.UploadTarget{Url: "https://example.test/" + name, Headers: map[string]string{"Content-Type": "image/png"}},
		}
	}
	for _, c := range []struct {
		name string
		v    any
	}{
		{"a response", file("photo.png")},
		{"a larger response of the same type", file(strings.Repeat("long-name-", 300) + ".png")},
		{"a smaller response of the same type", file("a.png")},
		{"an empty response", &presigndv1.CreateUploadResponse{}},
		{"the health answer", &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}},
		{"a value that is not a message", map[string]int32{"a": 1}},
		{"a string", "text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ours.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := opts.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %s\nwant %s", got, want)
			}
		})
	}
}
