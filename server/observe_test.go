package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/signer"
)

func TestMetricsCountCallsUploadsAndSignerTime(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnvWith(t, envOptions{metrics: m})
	f := env.createReady(t, "acme", "a.txt", []byte("abc"))
	// Completing again changes nothing and counts no new READY upload.
	if _, err := env.client.CompleteUpload(env.as("acme"), &presigndv1.CompleteUploadRequest{FileId: f.GetFileId()}); err != nil {
		t.Fatal(err)
	}
	_, err = env.client.GetFile(env.as("acme"), &presigndv1.GetFileRequest{FileId: "missing"})
	wantCode(t, err, codes.NotFound)
	// A multipart upload given up, twice: one ABORTED upload.
	mp := pendingMultipart(t, env, env.as("acme"))
	for range 2 {
		if _, err := env.client.AbortUpload(env.as("acme"), &presigndv1.AbortUploadRequest{FileId: mp.GetFileId()}); err != nil {
			t.Fatal(err)
		}
	}

	text := gatherText(t, reg)
	for _, want := range []string{
		`presignd_uploads_total{state="PENDING"} 2`,
		`presignd_uploads_total{state="READY"} 1`,
		`presignd_uploads_total{state="FAILED"} 0`,
		`presignd_uploads_total{state="ABORTED"} 1`,
		`presignd_signer_duration_seconds_count{backend="local",operation="create_multipart",result="ok"} 1`,
		`presignd_signer_duration_seconds_count{backend="local",operation="abort_multipart",result="ok"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CompleteUpload",grpc_service="presignd.v1.FileService",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetFile",grpc_service="presignd.v1.FileService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_count{grpc_method="CreateUpload",grpc_service="presignd.v1.FileService",grpc_type="unary"} 2`,
		`presignd_signer_duration_seconds_count{backend="local",operation="sign_upload",result="ok"} 1`,
		`presignd_signer_duration_seconds_count{backend="local",operation="stat",result="ok"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// fakeSigner is a Signer whose Stat answers err.
type fakeSigner struct {
	signer.Signer
	statErr error
}

func (f fakeSigner) Stat(context.Context, string) (signer.ObjectInfo, error) {
	return signer.ObjectInfo{}, f.statErr
}

type postSigner struct{ fakeSigner }

func (postSigner) SignPostUpload(context.Context, signer.UploadRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{Method: "POST"}, nil
}

// mpSigner is a fakeSigner that takes multipart uploads.
type mpSigner struct{ fakeSigner }

func (mpSigner) PartLimits() signer.PartLimits { return signer.PartLimits{MaxParts: 7} }
func (mpSigner) CreateMultipart(context.Context, signer.UploadRequest) (string, error) {
	return "upload-1", nil
}
func (mpSigner) SignPart(_ context.Context, r signer.PartRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{Method: "PUT", URL: fmt.Sprint(r.PartNumber)}, nil
}
func (mpSigner) ListParts(context.Context, string, string) ([]signer.Part, error) {
	return nil, signer.ErrNotFound
}
func (mpSigner) CompleteMultipart(context.Context, string, string, []signer.Part) error {
	return signer.ErrInvalidPart
}
func (mpSigner) AbortMultipart(context.Context, string, string) error { return nil }

// postMPSigner signs POST policies and takes multipart uploads.
type postMPSigner struct{ mpSigner }

func (postMPSigner) SignPostUpload(context.Context, signer.UploadRequest) (signer.UploadTarget, error) {
	return signer.UploadTarget{Method: "POST"}, nil
}

func TestInstrumentSignersKeepsMultipart(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	out := m.InstrumentSigners(map[string]signer.Signer{"put": fakeSigner{}, "post": postSigner{}, "mp": mpSigner{}, "both": postMPSigner{}})
	for name, want := range map[string][2]bool{"put": {false, false}, "post": {true, false}, "mp": {false, true}, "both": {true, true}} {
		caps := signer.CapabilitiesOf(out[name])
		if got := [2]bool{caps.PostPolicy != nil, caps.Multipart != nil}; got != want {
			t.Errorf("%s once instrumented: PostPolicy, Multipart = %v, want %v", name, got, want)
		}
	}
	ctx := context.Background()
	for _, name := range []string{"mp", "both"} {
		mp := signer.CapabilitiesOf(out[name]).Multipart
		if mp.PartLimits().MaxParts != 7 {
			t.Errorf("%s: PartLimits not passed through", name)
		}
		if id, err := mp.CreateMultipart(ctx, signer.UploadRequest{}); id != "upload-1" || err != nil {
			t.Errorf("%s: CreateMultipart = %q, %v", name, id, err)
		}
		if tg, err := mp.SignPart(ctx, signer.PartRequest{PartNumber: 3}); tg.URL != "3" || err != nil {
			t.Errorf("%s: SignPart = %v, %v", name, tg, err)
		}
		if _, err := mp.ListParts(ctx, "k", "u"); !errors.Is(err, signer.ErrNotFound) {
			t.Errorf("%s: ListParts = %v", name, err)
		}
		if err := mp.CompleteMultipart(ctx, "k", "u", nil); !errors.Is(err, signer.ErrInvalidPart) {
			t.Errorf("%s: CompleteMultipart = %v", name, err)
		}
		if err := mp.AbortMultipart(ctx, "k", "u"); err != nil {
			t.Errorf("%s: AbortMultipart = %v", name, err)
		}
	}
	if tg, err := signer.CapabilitiesOf(out["both"]).PostPolicy.SignPostUpload(ctx, signer.UploadRequest{}); err != nil || tg.Method != "POST" {
		t.Errorf("both: SignPostUpload = %v, %v", tg, err)
	}
	text := gatherText(t, reg)
	for _, op := range []string{`operation="create_multipart",result="ok"`, `operation="sign_part",result="ok"`, `operation="list_parts",result="not_found"`,
		`operation="complete_multipart",result="error"`, `operation="abort_multipart",result="ok"`} {
		for _, name := range []string{"mp", "both"} {
			if series := fmt.Sprintf(`presignd_signer_duration_seconds_count{backend=%q,%s} 1`, name, op); !strings.Contains(text, series) {
				t.Errorf("missing %s", series)
			}
		}
	}
	if !strings.Contains(text, `presignd_signer_duration_seconds_count{backend="both",operation="sign_post_upload",result="ok"} 1`) {
		t.Error("SignPostUpload of a POST and multipart backend was not timed")
	}
}

func TestInstrumentSignersKeepsCapabilities(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	out := m.InstrumentSigners(map[string]signer.Signer{"put": fakeSigner{}, "post": postSigner{}})
	if _, ok := out["put"].(signer.PostPolicySigner); ok {
		t.Error("a PUT-only backend signs POST policies once instrumented")
	}
	ps, ok := out["post"].(signer.PostPolicySigner)
	if !ok {
		t.Fatal("a POST-capable backend lost SignPostUpload once instrumented")
	}
	if tg, err := ps.SignPostUpload(context.Background(), signer.UploadRequest{}); err != nil || tg.Method != "POST" {
		t.Errorf("SignPostUpload = %v, %v", tg, err)
	}
	if text := gatherText(t, reg); !strings.Contains(text, `presignd_signer_duration_seconds_count{backend="post",operation="sign_post_upload",result="ok"} 1`) {
		t.Errorf("SignPostUpload was not timed:\n%s", text)
	}
	var nilMetrics *Metrics
	in := map[string]signer.Signer{"x": fakeSigner{}}
	if got := nilMetrics.InstrumentSigners(in); fmt.Sprint(got) != fmt.Sprint(in) {
		t.Error("nil Metrics changed the backends")
	}
}

func TestReadyChecksTheStoreAndEveryBackend(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name     string
		ping     func(context.Context) error
		backends map[string]signer.Signer
		want     []string // substrings of the error; none for ready
	}{
		{"all reachable (a missing probe object is fine)", ok, map[string]signer.Signer{"a": fakeSigner{statErr: fmt.Errorf("stat: %w", signer.ErrNotFound)}, "b": fakeSigner{}}, nil},
		{"the store is down", down, map[string]signer.Signer{"a": fakeSigner{statErr: signer.ErrNotFound}}, []string{"store: connection refused"}},
		{"a backend refuses", ok, map[string]signer.Signer{"a": fakeSigner{statErr: signer.ErrNotFound}, "s3": fakeSigner{statErr: errors.New("403 Forbidden X-Amz-Signature=abcdef")}},
			[]string{"backend s3: 403 Forbidden", "X-Amz-Signature=REDACTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Ready(tt.ping, tt.backends, nil)(context.Background())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("not ready: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ready")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "abcdef") {
				t.Errorf("error %q carries a signature", err)
			}
		})
	}
}

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, secret string }{
		{"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1&X-Amz-Signature=deadbeef01&X-Amz-SignedHeaders=host", "deadbeef01"},
		{"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=x", "AKIAEXAMPLE"},
		{"https://b.s3.amazonaws.com/k?X-Amz-Security-Token=sessiontoken123&X-Amz-Signature=x", "sessiontoken123"},
		{"https://storage.googleapis.com/b/k?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=cafe0123&X-Goog-Date=1", "cafe0123"},
		{"http://localhost:8080/local/local/k?expires=1&signature=c2lnbmF0dXJl", "c2lnbmF0dXJl"},
		{`{"url":"x","x-amz-signature":"json0secret"}`, "json0secret"},
		{`put "http://h/k?SIGNATURE=upper0case": 403`, "upper0case"},
		{"http://h/k?a=1&Signature=legacy0sig&AWSAccessKeyId=AKIAOLD", "legacy0sig"},
	}
	for _, tt := range tests {
		got := RedactSecrets(tt.in)
		if strings.Contains(got, tt.secret) || !strings.Contains(got, "REDACTED") {
			t.Errorf("RedactSecrets(%q) = %q", tt.in, got)
		}
	}
	for _, keep := range []string{"GET /v1/files/abc", "expires=123&key=a/b", "no secrets here: X-Amz-SignedHeaders=host"} {
		if got := RedactSecrets(keep); got != keep {
			t.Errorf("RedactSecrets(%q) = %q, want it unchanged", keep, got)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestLogHandlerRedactsEveryKindOfValue(t *testing.T) {
	const secret = "s3cr3tsig"
	u := "http://h/k?expires=1&signature=" + secret
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			log := slog.New(NewLogHandler(h)).With("base", u).WithGroup("g")
			ctx := context.WithValue(context.Background(), requestIDKey{}, "rid-1")
			log.DebugContext(ctx, "message "+u,
				"url", u, "err", fmt.Errorf("put %s: refused", u), "stringer", stringer(u),
				"bytes", []byte(u), "map", map[string]string{"u": u}, slog.Group("grp", "inner", u), "n", 3)
			out := buf.String()
			if strings.Contains(out, secret) {
				t.Errorf("log carries the signature:\n%s", out)
			}
			if strings.Count(out, "REDACTED") < 8 || !strings.Contains(out, "rid-1") || !strings.Contains(out, "expires=1") {
				t.Errorf("log lacks redactions, the request id or the rest of the URL:\n%s", out)
			}
			if NewLogHandler(NewLogHandler(h)) == nil {
				t.Fatal("nil")
			}
		})
	}
}

// TestAFullFlowLogsNoSignature runs create, upload, complete and download
// with debug logging and finds no signature of the issued URLs in the log.
func TestAFullFlowLogsNoSignature(t *testing.T) {
	out := &testenv.SyncBuffer{}
	logger := slog.New(NewLogHandler(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	env := newTestEnvWith(t, envOptions{logger: logger})
	ctx := env.as("acme")
	body := []byte("hello")
	created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	if _, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()}); err != nil {
		t.Fatal(err)
	}
	dl, err := env.client.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: created.GetFile().GetFileId()})
	if err != nil {
		t.Fatal(err)
	}
	// An unauthenticated call logs at debug level too.
	_, err = env.client.GetFile(context.Background(), &presigndv1.GetFileRequest{FileId: "x"})
	wantCode(t, err, codes.Unauthenticated)
	var secrets []string
	for _, raw := range []string{created.GetUploadTarget().GetUrl(), dl.GetUrl()} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, u.Query().Get("signature"))
	}
	log := out.String()
	if !strings.Contains(log, "finished call") {
		t.Fatalf("nothing was logged:\n%s", log)
	}
	for _, s := range secrets {
		if s == "" || strings.Contains(log, s) {
			t.Errorf("signature %q is empty or in the log", s)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	env := newTestEnv(t)
	t.Run("gRPC: the caller's id comes back", func(t *testing.T) {
		var hdr metadata.MD
		ctx := metadata.AppendToOutgoingContext(env.as("acme"), "x-request-id", "abc-123")
		if _, err := env.client.GetUsage(ctx, &presigndv1.GetUsageRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		if got := hdr.Get(RequestIDHeader); len(got) != 1 || got[0] != "abc-123" {
			t.Errorf("x-request-id = %v", got)
		}
	})
	cases := []struct {
		name, sent string
		keep       bool
	}{
		{"REST: the caller's id comes back", "req-7", true},
		{"REST: no id gets a new one", "", false},
		{"REST: an overlong id is replaced", strings.Repeat("x", 200), false},
		{"REST: an id with spaces is replaced", "a b", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", env.restURL+"/v1/usage", nil)
			req.Header.Set("Authorization", "Bearer "+env.keys["acme"])
			if c.sent != "" {
				req.Header.Set("X-Request-Id", c.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			if c.keep && got != c.sent || !c.keep && (got == "" || got == c.sent) {
				t.Errorf("X-Request-Id = %q (sent %q)", got, c.sent)
			}
			if len(resp.Header.Values("X-Request-Id")) != 1 {
				t.Errorf("X-Request-Id sent %d times", len(resp.Header.Values("X-Request-Id")))
			}
		})
	}
	for _, c := range []struct {
		name, path, auth string
		status           int
	}{
		{"REST: a failed call's answer carries the caller's id", "/v1/files/no-such-file", "Bearer " + env.keys["acme"], http.StatusNotFound},
		{"REST: a refused call's answer carries the caller's id", "/v1/usage", "Bearer not-a-key", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", env.restURL+c.path, nil)
			req.Header.Set("Authorization", c.auth)
			req.Header.Set("X-Request-Id", "req-err-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "req-err-1" {
				t.Errorf("X-Request-Id = %q, want [req-err-1]", got)
			}
		})
	}
	t.Run("REST: the health echo needs no credential", func(t *testing.T) {
		resp, err := http.Get(env.restURL + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("/v1/health: %d, id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
	})
}

// countingChecker counts Probe calls and answers err.
type countingChecker struct {
	calls atomic.Int32
	err   error
}

func (c *countingChecker) Probe(context.Context) (signer.Probe, error) {
	c.calls.Add(1)
	return signer.Probe{}, c.err
}

func (c *countingChecker) CORS(context.Context) ([]signer.CORSRule, error) { return nil, nil }

// A backend with a Checker is probed rather than stat'ed, and its answer,
// success or failure, is kept for ProbeCacheTTL: probes in a row call the
// backend once.
func TestReadyProbesCheckersOncePerTTL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		ready bool
	}{
		{"a reachable backend is probed once for two readiness checks", nil, true},
		{"an unreachable backend is probed once and stays not ready", errors.New("403 Forbidden"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &countingChecker{err: tc.err}
			// The signer's Stat fails: were it used, readiness would fail.
			backends := map[string]signer.Signer{"gcs": fakeSigner{statErr: errors.New("stat must not be called")}}
			ready := Ready(nil, backends, map[string]signer.Checker{"gcs": c})
			for i := 0; i < 2; i++ {
				err := ready(context.Background())
				if (err == nil) != tc.ready {
					t.Fatalf("check %d: %v, want ready %v", i, err, tc.ready)
				}
			}
			if n := c.calls.Load(); n != 1 {
				t.Fatalf("Probe called %d times, want 1", n)
			}
		})
	}
}
