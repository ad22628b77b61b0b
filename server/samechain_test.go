package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

// lockedBuffer collects log output from concurrent calls.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

// panickingStore panics in GetFile for the file id "panic".
type panickingStore struct{ *sqlite.Store }

func (p panickingStore) GetFile(ctx context.Context, tenant, id string) (*store.File, error) {
	if id == "panic" {
		panic("a handler bug")
	}
	return p.Store.GetFile(ctx, tenant, id)
}

// TestRESTAndGRPCPassTheSameInterceptors makes each call once over gRPC
// and once over REST, and checks that both meet every interceptor of the
// chain alike: the same status (code, message, details), one metrics
// count by method and code, one access log line with the call's request
// id, method and code, the request id returned, and, when rate limited,
// the retry delay (RetryInfo over gRPC, Retry-After over REST).
func TestRESTAndGRPCPassTheSameInterceptors(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	env := newTestEnvWith(t, envOptions{
		metrics:   m,
		logger:    slog.New(NewLogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		auth:      AuthConfig{CreateUploadPerSecond: 0.001, CreateUploadBurst: 2},
		wrapStore: func(s *sqlite.Store) store.Store { return panickingStore{s} },
	})
	// Each tenant may make two CreateUploads: acme's are the two with bad
	// input, globex's are spent here, so that its later ones are rate
	// limited.
	for range 2 {
		if _, err := env.client.CreateUpload(env.as("globex"), &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	bearer := func(tenant string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + env.keys[tenant]}
	}

	type call struct {
		tenant string // "" sends no credential
		method string // the gRPC full method
		grpc   func(ctx context.Context, opts ...grpc.CallOption) error
		verb   string // the REST request
		path   string
		body   string
	}
	for _, tc := range []struct {
		name string
		call call
		code codes.Code
		// details are the status detail types the error must carry.
		details []string
	}{
		{"unauthenticated", call{
			method: presigndv1.FileService_GetFile_FullMethodName,
			grpc: func(ctx context.Context, opts ...grpc.CallOption) error {
				_, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: "f1"}, opts...)
				return err
			},
			verb: "GET", path: "/v1/files/f1",
		}, codes.Unauthenticated, nil},
		{"bad input with field violations", call{
			tenant: "acme", method: presigndv1.FileService_CreateUpload_FullMethodName,
			grpc: func(ctx context.Context, opts ...grpc.CallOption) error {
				_, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "", ContentType: "text/plain", SizeBytes: 0}, opts...)
				return err
			},
			verb: "POST", path: "/v1/uploads", body: `{"filename":"","content_type":"text/plain","size_bytes":0}`,
		}, codes.InvalidArgument, []string{"google.rpc.BadRequest"}},
		{"not found", call{
			tenant: "acme", method: presigndv1.FileService_GetFile_FullMethodName,
			grpc: func(ctx context.Context, opts ...grpc.CallOption) error {
				_, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: "missing"}, opts...)
				return err
			},
			verb: "GET", path: "/v1/files/missing",
		}, codes.NotFound, nil},
		{"rate limited", call{
			tenant: "globex", method: presigndv1.FileService_CreateUpload_FullMethodName,
			grpc: func(ctx context.Context, opts ...grpc.CallOption) error {
				_, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "b.txt", ContentType: "text/plain", SizeBytes: 1}, opts...)
				return err
			},
			verb: "POST", path: "/v1/uploads", body: `{"filename":"b.txt","content_type":"text/plain","size_bytes":1}`,
		}, codes.ResourceExhausted, []string{"google.rpc.RetryInfo"}},
		{"a panic in the handler", call{
			tenant: "acme", method: presigndv1.FileService_GetFile_FullMethodName,
			grpc: func(ctx context.Context, opts ...grpc.CallOption) error {
				_, err := env.client.GetFile(ctx, &presigndv1.GetFileRequest{FileId: "panic"}, opts...)
				return err
			},
			verb: "GET", path: "/v1/files/panic",
		}, codes.Internal, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service, method := splitMethod(tc.call.method)
			counted := func() int {
				return handledCount(t, reg, service, method, tc.code)
			}

			// gRPC.
			before := counted()
			grpcID := "grpc-" + strings.ReplaceAll(tc.name, " ", "-")
			ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", grpcID)
			if tc.call.tenant != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+env.keys[tc.call.tenant])
			}
			var hdr metadata.MD
			grpcErr := tc.call.grpc(ctx, grpc.Header(&hdr))
			grpcStatus := status.Convert(grpcErr).Proto()
			if got := codes.Code(grpcStatus.GetCode()); got != tc.code {
				t.Fatalf("gRPC: code %v (%v), want %v", got, grpcErr, tc.code)
			}
			if got := hdr.Get(RequestIDHeader); len(got) != 1 || got[0] != grpcID {
				t.Errorf("gRPC: x-request-id %v, want %s", got, grpcID)
			}
			if n := counted() - before; n != 1 {
				t.Errorf("gRPC: the call was counted %d times by the metrics interceptor, want 1", n)
			}

			// REST.
			before = counted()
			restID := "rest-" + strings.ReplaceAll(tc.name, " ", "-")
			headers := map[string]string{"X-Request-Id": restID}
			if tc.call.tenant != "" {
				for k, v := range bearer(tc.call.tenant) {
					headers[k] = v
				}
			}
			resp := restDo(t, env, tc.call.verb, tc.call.path, tc.call.body, headers)
			var restStatus spb.Status
			if err := protojson.Unmarshal(resp.body, &restStatus); err != nil {
				t.Fatalf("REST: %d %s: %v", resp.code, resp.body, err)
			}
			if got := resp.header.Get("X-Request-Id"); got != restID {
				t.Errorf("REST: X-Request-Id %q, want %s", got, restID)
			}
			if n := counted() - before; n != 1 {
				t.Errorf("REST: the call was counted %d times by the metrics interceptor, want 1", n)
			}

			// The same error on both paths (the retry delay of a rate
			// limit, in the message and the RetryInfo, moves on between
			// the two calls).
			if !proto.Equal(withoutDelay(grpcStatus), withoutDelay(&restStatus)) {
				t.Errorf("the statuses differ:\ngRPC: %v\nREST: %v", grpcStatus, &restStatus)
			}
			var types []string
			for _, d := range grpcStatus.GetDetails() {
				types = append(types, string(d.MessageName()))
			}
			if fmt.Sprint(types) != fmt.Sprint(tc.details) {
				t.Errorf("details %v, want %v", types, tc.details)
			}
			if tc.code == codes.ResourceExhausted {
				ra, err := strconv.Atoi(resp.header.Get("Retry-After"))
				if err != nil || ra < 1 {
					t.Errorf("REST: Retry-After %q, want whole seconds", resp.header.Get("Retry-After"))
				}
				var ri errdetails.RetryInfo
				if err := grpcStatus.GetDetails()[0].UnmarshalTo(&ri); err != nil || ri.GetRetryDelay().AsDuration() <= 0 {
					t.Errorf("gRPC: RetryInfo %v (%v)", &ri, err)
				}
			}

			// One access log line for each, with method, code and id.
			for _, id := range []string{grpcID, restID} {
				n := 0
				for _, rec := range logs.records(t) {
					if rec["request_id"] == id && rec["msg"] == "finished call" {
						n++
						if rec["grpc.method"] != method || rec["grpc.service"] != service || rec["grpc.code"] != tc.code.String() {
							t.Errorf("%s: access log %v", id, rec)
						}
					}
				}
				if n != 1 {
					t.Errorf("%s: %d access log lines, want 1", id, n)
				}
			}
		})
	}
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	i := strings.LastIndex(full, "/")
	return full[1:i], full[i+1:]
}

// handledCount is grpc_server_handled_total of service, method and code.
func handledCount(t *testing.T, reg *prometheus.Registry, service, method string, code codes.Code) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^grpc_server_handled_total\{grpc_code="` + code.String() + `",grpc_method="` + method +
		`",grpc_service="` + regexp.QuoteMeta(service) + `",grpc_type="unary"\} (\d+)$`)
	m := re.FindStringSubmatch(gatherText(t, reg))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

type restResponse struct {
	code   int
	header http.Header
	body   []byte
}

func restDo(t *testing.T, env *testEnv, verb, path, body string, headers map[string]string) restResponse {
	t.Helper()
	req, err := http.NewRequest(verb, env.restURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return restResponse{code: resp.StatusCode, header: resp.Header, body: b}
}

var retryIn = regexp.MustCompile(`retry in [0-9.hms]+`)

// withoutDelay is st with its retry delays set to zero.
func withoutDelay(st *spb.Status) *spb.Status {
	out := proto.Clone(st).(*spb.Status)
	out.Message = retryIn.ReplaceAllString(out.Message, "retry in ...")
	for i, d := range out.GetDetails() {
		var ri errdetails.RetryInfo
		if d.UnmarshalTo(&ri) == nil {
			ri.RetryDelay = nil
			out.Details[i], _ = anypb.New(&ri)
		}
	}
	return out
}
