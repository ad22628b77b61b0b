package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// TestJSONMarshalerEncodesAsJSONPb checks that the gateway's marshaler
// writes what runtime.JSONPb writes (but for the whitespace protojson
// varies), for the messages it encodes by hand with every field set and
// with the values protojson treats specially, for messages of one type
// growing and shrinking past the size it expects, and for values that are
// not messages.
func TestJSONMarshalerEncodesAsJSONPb(t *testing.T) {
	opts := runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}}
	ours := &jsonMarshaler{JSONPb: opts}
	full := func(t *testing.T) *presigndv1.CreateUploadResponse {
		r := &presigndv1.CreateUploadResponse{}
		fill(t, r.ProtoReflect(), "full")
		return r
	}
	file := func(name string) *presigndv1.CreateUploadResponse {
		return &presigndv1.CreateUploadResponse{
			File:         &presigndv1.File{FileId: "f-1", Filename: name, Owner: map[string]string{"customer_id": "c1"}},
			UploadTarget: &presigndv1.UploadTarget{Url: "https://example.test/" + name, Headers: map[string]string{"Content-Type": "image/png"}},
		}
	}
	with := func(change func(r *presigndv1.CreateUploadResponse)) func(t *testing.T) any {
		return func(t *testing.T) any {
			r := full(t)
			change(r)
			return r
		}
	}
	ts := func(secs int64, nanos int32) func(r *presigndv1.CreateUploadResponse) {
		return func(r *presigndv1.CreateUploadResponse) {
			r.File.CreateTime = &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}
		}
	}
	value := func(v any) func(*testing.T) any { return func(*testing.T) any { return v } }
	for _, c := range []struct {
		name string
		v    func(t *testing.T) any
	}{
		{"a CreateUpload answer with every field set", func(t *testing.T) any { return full(t) }},
		{"a GetFile answer with every field set", func(t *testing.T) any {
			r := &presigndv1.GetFileResponse{}
			fill(t, r.ProtoReflect(), "get")
			return r
		}},
		{"a SignParts answer with every field set", func(t *testing.T) any {
			r := &presigndv1.SignPartsResponse{}
			fill(t, r.ProtoReflect(), "sign")
			return r
		}},
		{"an empty SignParts answer", value(&presigndv1.SignPartsResponse{})},
		{"a SignParts answer with an empty part", value(&presigndv1.SignPartsResponse{Parts: []*presigndv1.PartTarget{{}}})},
		{"an empty CreateUpload answer", value(&presigndv1.CreateUploadResponse{})},
		{"an empty GetFile answer", value(&presigndv1.GetFileResponse{})},
		{"empty file and target", value(&presigndv1.CreateUploadResponse{File: &presigndv1.File{}, UploadTarget: &presigndv1.UploadTarget{}})},
		{"strings that need escaping", with(func(r *presigndv1.CreateUploadResponse) {
			r.File.Filename = "a\"b\\c\x00\x01\x1f\b\f\n\r\t/<>&\u2028\u00e9\ufffd\U0001F600\x7f"
			r.File.Owner = map[string]string{"k\"\n": "v\\\t", "z": "", "": "empty key", "A": "upper"}
		})},
		{"a string that is not UTF-8", with(func(r *presigndv1.CreateUploadResponse) { r.File.Tenant = "bad\xff" })},
		{"a map value that is not UTF-8", with(func(r *presigndv1.CreateUploadResponse) { r.UploadTarget.Headers = map[string]string{"a": "\xc3"} })},
		{"a part URL that is not UTF-8", with(func(r *presigndv1.CreateUploadResponse) { r.UploadTarget.Parts[1].Url = "\xc3" })},
		{"a part checksum enum number with no name", with(func(r *presigndv1.CreateUploadResponse) { r.UploadTarget.Multipart.PartChecksumAlgorithm = 42 })},
		{"a multipart target without parts", with(func(r *presigndv1.CreateUploadResponse) { r.UploadTarget.Parts = nil })},
		{"a file without a multipart layout", with(func(r *presigndv1.CreateUploadResponse) { r.File.Multipart = nil })},
		{"an enum number with no name", with(func(r *presigndv1.CreateUploadResponse) { r.File.State = 99 })},
		{"a checksum enum number with no name", with(func(r *presigndv1.CreateUploadResponse) { r.File.Checksum.Algorithm = -3 })},
		{"a timestamp in whole seconds", with(ts(1700000000, 0))},
		{"a timestamp in milliseconds", with(ts(1700000000, 120_000_000))},
		{"a timestamp in microseconds", with(ts(1700000000, 123_400_000+5_000))},
		{"a timestamp in nanoseconds", with(ts(1700000000, 1))},
		{"a timestamp before 1970", with(ts(-1, 999_999_999))},
		{"the first timestamp", with(ts(-62135596800, 0))},
		{"the last timestamp", with(ts(253402300799, 999_999_999))},
		{"a timestamp before the first", with(ts(-62135596801, 0))},
		{"a timestamp after the last", with(ts(253402300800, 0))},
		{"negative nanos", with(ts(0, -1))},
		{"a second of nanos", with(ts(0, 1e9))},
		{"extreme numbers", with(func(r *presigndv1.CreateUploadResponse) {
			r.File.SizeBytes, r.File.UploadCount, r.UploadTarget.MaxSizeBytes = math.MinInt64, math.MinInt32, math.MaxInt64
		})},
		{"a response", value(file("photo.png"))},
		{"a larger response of the same type", value(file(strings.Repeat("long-name-", 300) + ".png"))},
		{"a smaller response of the same type", value(file("a.png"))},
		{"the health answer", value(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})},
		{"an empty health answer", value(&healthpb.HealthCheckResponse{})},
		{"a health answer with every field set", func(t *testing.T) any {
			r := &healthpb.HealthCheckResponse{}
			fill(t, r.ProtoReflect(), "health")
			return r
		}},
		{"a health answer with an unnamed status", value(&healthpb.HealthCheckResponse{Status: 42})},
		{"a value that is not a message", value(map[string]int32{"a": 1})},
		{"a string", value("text")},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := c.v(t)
			got, err := ours.Marshal(v)
			want, wantErr := opts.Marshal(v)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, JSONPb's %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(compact(t, got), compact(t, want)) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestJSONMarshalerEncodesFilesByHand checks that the answers carrying a
// File take the hand-written encoding (which the test above compares with
// protojson's), and that a value protojson must render falls back to it.
func TestJSONMarshalerEncodesFilesByHand(t *testing.T) {
	ours := &jsonMarshaler{JSONPb: runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}}}
	create := &presigndv1.CreateUploadResponse{}
	fill(t, create.ProtoReflect(), "c")
	get := &presigndv1.GetFileResponse{}
	fill(t, get.ProtoReflect(), "g")
	notUTF8 := &presigndv1.GetFileResponse{File: &presigndv1.File{Key: string([]byte{0xff})}}
	for _, c := range []struct {
		name   string
		m      proto.Message
		byHand bool
	}{
		{"CreateUploadResponse", create, true},
		{"GetFileResponse", get, true},
		{"SignPartsResponse", &presigndv1.SignPartsResponse{Parts: []*presigndv1.PartTarget{{PartNumber: 1, Url: "u"}}}, true},
		{"a string that is not UTF-8", notUTF8, false},
		{"HealthCheckResponse", &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, true},
		{"a message without a hand encoding", &healthpb.HealthCheckRequest{}, false},
	} {
		if _, ok := ours.appendByHand(nil, c.m); ok != c.byHand {
			t.Errorf("%s: encoded by hand %v, want %v", c.name, ok, c.byHand)
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return out.Bytes()
}

// fill sets every field of m, recursively, to a value that is not its
// zero value, and fails the test for a kind of field it cannot fill.
func fill(t *testing.T, m protoreflect.Message, prefix string) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := fmt.Sprintf("%s-%s", prefix, fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapKey().Kind() != protoreflect.StringKind || fd.MapValue().Kind() != protoreflect.StringKind {
				t.Fatalf("fill: map field %s", fd.FullName())
			}
			mp := m.Mutable(fd).Map()
			for _, k := range []string{"b", "a", "c\"d"} {
				mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(name+"-"+k))
			}
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			list := m.Mutable(fd).List()
			for j := range 2 {
				el := list.NewElement()
				fill(t, el.Message(), fmt.Sprintf("%s-%d", name, j))
				list.Append(el)
			}
		case fd.IsList():
			t.Fatalf("fill: repeated field %s", fd.FullName())
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(name+" \"é\"\n"))
		case fd.Kind() == protoreflect.Int64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(int64(1)<<40+int64(fd.Number())))
		case fd.Kind() == protoreflect.Int32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(1000+int32(fd.Number())))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			values := fd.Enum().Values()
			m.Set(fd, protoreflect.ValueOfEnum(values.Get(values.Len()-1).Number()))
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp":
			m.Set(fd, protoreflect.ValueOfMessage((&timestamppb.Timestamp{Seconds: 1700000000 + int64(fd.Number()), Nanos: 123_456_000}).ProtoReflect()))
		case fd.Kind() == protoreflect.MessageKind:
			fill(t, m.Mutable(fd).Message(), name)
		default:
			t.Fatalf("fill: field %s of kind %s", fd.FullName(), fd.Kind())
		}
	}
	if proto.Size(m.Interface()) == 0 {
		t.Fatalf("fill: %s left empty", m.Descriptor().FullName())
	}
}

// BenchmarkMarshalCreateUploadResponse compares runtime.JSONPb and the
// gateway's marshaler on a typical CreateUpload answer:
//
//	go test ./server -run '^$' -bench MarshalCreateUploadResponse -benchmem
func BenchmarkMarshalCreateUploadResponse(b *testing.B) {
	opts := runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}}
	now := timestamppb.Now()
	resp := &presigndv1.CreateUploadResponse{
		File: &presigndv1.File{
			FileId: "01a251b6-1938-73ca-bbd0-71abb1b9b66e", SignedId: "sid1.01a251b6-1938-73ca-bbd0-71abb1b9b66e.G32dERwDZSmTj9k70okuw11Q",
			Tenant: "dev", Category: "default", DisplayName: "doc-1.pdf", Filename: "doc-1.pdf",
			Key: "dev/default/01a251b6-1938-73ca-bbd0-71abb1b9b66e.pdf", StorageUri: "local://local/dev/default/01a251b6-1938-73ca-bbd0-71abb1b9b66e.pdf",
			Backend: "local", ContentType: "application/pdf", SizeBytes: 654321, State: presigndv1.FileState_FILE_STATE_PENDING,
			CreateTime: now, UpdateTime: now, UploadExpireTime: now, UploadCount: 1, SizeDisplay: "639 KiB",
		},
		UploadTarget: &presigndv1.UploadTarget{
			Method:  presigndv1.UploadMethod_UPLOAD_METHOD_PUT,
			Url:     "http://127.0.0.1:8080/local/local/dev/default/01a251b6-1938-73ca-bbd0-71abb1b9b66e.pdf?method=PUT&expires=1796668118&content-type=application%2Fpdf&max-size=654321&signature=I4b2I_8vZEq6gFeoJpNouSQbBnjuTan2rM4Cv8qHu0M",
			Headers: map[string]string{"Content-Type": "application/pdf"}, ExpireTime: now, MaxSizeBytes: 5 << 30,
		},
	}
	for _, bc := range []struct {
		name string
		m    runtime.Marshaler
	}{{"JSONPb", &opts}, {"gateway", &jsonMarshaler{JSONPb: opts}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.m.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
