package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/presignd/presignd/signer"
)

// countingMount answers 200 with the number of body bytes it could read.
var countingMount = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, n)
})

func TestRESTBodiesAreCappedBeforeTheyAreRead(t *testing.T) {
	const limit = 64 << 10
	env := newTestEnv(t)
	gw, err := NewGateway(context.Background(), env.server, GatewayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{
		Gateway: gw, Mounts: map[string]http.Handler{"/local/": countingMount}, MaxRequestBytes: limit,
	}))
	t.Cleanup(srv.Close)
	// createBody is a valid CreateUpload of about size bytes (white space
	// pads it).
	createBody := func(size int) []byte {
		b, _ := json.Marshal(map[string]any{"filename": "a.txt", "content_type": "text/plain", "size_bytes": 3})
		return append(append(b[:len(b)-1], bytes.Repeat([]byte(" "), size)...), '}')
	}
	tests := []struct {
		name    string
		path    string
		body    []byte
		chunked bool
		want    int
	}{
		{"a body under the limit reaches the API", "/v1/uploads", createBody(limit - 1<<10), false, http.StatusOK},
		{"a chunked body under the limit reaches the API", "/v1/uploads", createBody(limit - 1<<10), true, http.StatusOK},
		{"a declared size over the limit is 413", "/v1/uploads", createBody(limit), false, http.StatusRequestEntityTooLarge},
		{"a chunked body that grows over the limit is 413", "/v1/uploads", createBody(limit), true, http.StatusRequestEntityTooLarge},
		{"the mounts are not capped", "/local/x", bytes.Repeat([]byte("z"), 4*limit), true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+env.keys["acme"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, raw, tt.want)
			}
			switch {
			case tt.want == http.StatusRequestEntityTooLarge:
				var st struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(raw, &st); err != nil || st.Code != int(codes.ResourceExhausted) || !strings.Contains(st.Message, strconv.Itoa(limit)) {
					t.Errorf("body %s, want a RESOURCE_EXHAUSTED google.rpc.Status naming %d bytes", raw, limit)
				}
			case strings.HasPrefix(tt.path, "/local/"):
				if string(raw) != strconv.Itoa(len(tt.body)) {
					t.Errorf("the mount read %s bytes, want %d", raw, len(tt.body))
				}
			}
		})
	}
}

// transferServer serves NewHTTPHandler with mount under /local/, short
// server timeouts and a longer transfer idle timeout.
func transferServer(t *testing.T, mount http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(NewHTTPHandler(HTTPConfig{
		Gateway: http.NotFoundHandler(), Mounts: map[string]http.Handler{"/local/": mount}, TransferIdleTimeout: 2 * time.Second,
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestTransfersRunWhileTheyMoveAndStopWhenTheyStall(t *testing.T) {
	t.Run("an upload that keeps moving outlives the read and write timeouts", func(t *testing.T) {
		srv := transferServer(t, countingMount)
		pr, pw := io.Pipe()
		go func() {
			tick := time.NewTicker(100 * time.Millisecond) // 1.2s in all, four times the timeouts
			defer tick.Stop()
			for range 12 {
				<-tick.C
				if _, err := pw.Write(make([]byte, 1000)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		resp, err := http.Post(srv.URL+"/local/x", "application/octet-stream", pr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(raw) != "12000" {
			t.Fatalf("%d %q, want 200 12000", resp.StatusCode, raw)
		}
	})
	t.Run("an upload that stalls is cut off", func(t *testing.T) {
		readErr := make(chan error, 1)
		srv := transferServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			readErr <- err
		}))
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() {
			if resp, err := http.Post(srv.URL+"/local/x", "application/octet-stream", pr); err == nil {
				resp.Body.Close()
			}
		}()
		if _, err := pw.Write([]byte("a start, then nothing")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-readErr:
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("reading the stalled body: %v, want a timeout", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a stalled upload was still open after 30s")
		}
	})
	t.Run("a download to a slow reader outlives the write timeout", func(t *testing.T) {
		const size = 32 << 20 // more than the socket buffers hold
		path := filepath.Join(t.TempDir(), "object")
		if err := os.WriteFile(path, bytes.Repeat([]byte("d"), size), 0o600); err != nil {
			t.Fatal(err)
		}
		srv := transferServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "", time.Time{}, f)
		}))
		resp, err := http.Get(srv.URL + "/local/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got int64
		tick := time.NewTicker(20 * time.Millisecond) // 1 MiB every 20ms: over half a second in all
		defer tick.Stop()
		for {
			<-tick.C
			n, err := io.CopyN(io.Discard, resp.Body, 1<<20)
			got += n
			if err != nil {
				if err != io.EOF {
					t.Fatalf("after %d bytes: %v", got, err)
				}
				break
			}
		}
		if got != size {
			t.Fatalf("got %d bytes, want %d", got, size)
		}
	})
}

func TestReadyzNamesWhatIsDownAndLogsWhy(t *testing.T) {
	driverErr := errors.New("failed to connect to `user=postgres database=secretdb`: 10.1.2.3:5432 (db.internal): server error")
	tests := []struct {
		name     string
		ping     func(context.Context) error
		backends map[string]signer.Signer
		want     string
	}{
		{"everything answers", func(context.Context) error { return nil }, nil, "ok\n"},
		{"the store is down", func(context.Context) error { return driverErr }, nil, "not ready: store unavailable\n"},
		{"the store and a backend are down", func(context.Context) error { return driverErr },
			map[string]signer.Signer{"s3main": fakeSigner{statErr: errors.New("dial tcp 10.9.9.9:443: connection refused")}},
			"not ready: backend s3main unavailable; store unavailable\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := NewHTTPHandler(HTTPConfig{Gateway: http.NotFoundHandler(), Ready: Ready(tt.ping, tt.backends, nil), Log: slog.New(slog.NewTextHandler(&logs, nil))})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Body.String() != tt.want {
				t.Fatalf("/readyz = %d %q, want %q", rec.Code, rec.Body, tt.want)
			}
			if tt.want == "ok\n" {
				return
			}
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", rec.Code)
			}
			if !strings.Contains(logs.String(), "secretdb") {
				t.Errorf("the log does not carry the driver's error: %s", logs.String())
			}
		})
	}
}

func TestGRPCCallsMustSendTheirRequestInTime(t *testing.T) {
	const limit = 300 * time.Millisecond
	// The handler takes twice the limit once its request has arrived.
	g := grpc.NewServer(append(RequestTimeoutOptions(limit), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var m emptypb.Empty
		if err := ss.RecvMsg(&m); err != nil {
			return err
		}
		select {
		case <-ss.Context().Done():
			return ss.Context().Err()
		case <-time.After(2 * limit):
		}
		return ss.SendMsg(&m)
	}))...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("a call that never sends its request is canceled", func(t *testing.T) {
		cs, err := conn.NewStream(ctx, desc, "/x.Slow/Call")
		if err != nil {
			t.Fatal(err)
		}
		var m emptypb.Empty
		if err := cs.RecvMsg(&m); status.Code(err) != codes.Canceled {
			t.Fatalf("RecvMsg: %v, want Canceled", err)
		}
	})
	t.Run("a call whose request arrived runs longer than the limit", func(t *testing.T) {
		cs, err := conn.NewStream(ctx, desc, "/x.Slow/Call")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		var m emptypb.Empty
		if err := cs.RecvMsg(&m); err != nil {
			t.Fatalf("RecvMsg: %v", err)
		}
	})
}
