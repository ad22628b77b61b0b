package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestUnauthenticatedCallersSlowEverySQLiteCreate (issue 18, defect 7):
// header-only CreateUpload streams with no credential are never announced
// to the SQLite group commit, so no batch of creates is held open for
// them. While five such streams are open (the server has read their
// headers) presignd_sqlite_announced_creates, the creates announced and
// not yet queued, is 0, and stays 0 after authenticated sequential
// CreateUploads complete.
func TestUnauthenticatedCallersSlowEverySQLiteCreate(t *testing.T) {
	const streams = 5
	const gauge = "presignd_sqlite_announced_creates"
	t.Setenv("PRESIGND_LIMITS_GRPC_REQUEST_TIMEOUT", "5m") // the streams stay open for the test
	inst := start(t)
	if n := requireMetric(t, inst, gauge); n != 0 {
		t.Fatalf("%s = %v before any call, want 0", gauge, n)
	}

	// Header-only CreateUploads with no credential: the request bodies
	// never send a byte, so the calls never reach the interceptor chain;
	// their headers are all the server sees.
	conn, err := net.DialTimeout("tcp", inst.GRPCAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var endedMu sync.Mutex
	var ended []string // how the server ended a stream
	wrote := make(chan struct{}, streams)
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote <- struct{}{} }}
	endedSoFar := func() []string { endedMu.Lock(); defer endedMu.Unlock(); return append([]string(nil), ended...) }
	for i := range streams {
		body, silent := io.Pipe()
		defer silent.Close()
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, "http://"+inst.GRPCAddr+"/presignd.v1.FileService/CreateUpload", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		go func() {
			res, err := cc.RoundTrip(req)
			outcome := fmt.Sprint(err)
			if err == nil {
				outcome = res.Status + " " + res.Header.Get("Grpc-Status") + " " + res.Header.Get("Grpc-Message")
				res.Body.Close()
			}
			endedMu.Lock()
			ended = append(ended, fmt.Sprintf("stream %d: %s", i, outcome))
			endedMu.Unlock()
		}()
	}
	// The connection writes frames in order and the server reads them in
	// order: once it answers a ping written after the streams' headers, it
	// has read them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range streams {
		select {
		case <-wrote:
		case <-ctx.Done():
			t.Fatalf("only %d of %d streams' headers written within 30s; ended: %q", i, streams, endedSoFar())
		}
	}
	if err := cc.Ping(ctx); err != nil {
		t.Fatalf("ping after the streams: %v", err)
	}
	if e := endedSoFar(); len(e) > 0 {
		t.Fatalf("the server ended the unauthenticated streams early: %q", e)
	}
	if n := requireMetric(t, inst, gauge); n != 0 {
		t.Errorf("%s = %v with %d unauthenticated header-only CreateUploads open, want 0: each holds every group of creates open for its window", gauge, n, streams)
	}

	for i := range 3 {
		code, body := inst.rest(t, http.MethodPost, "/v1/uploads", map[string]any{
			"filename": "seq-" + strconv.Itoa(i) + ".txt", "content_type": "text/plain", "size_bytes": 5,
		})
		if code != http.StatusOK {
			t.Fatalf("authenticated CreateUpload %d: %d %v", i, code, body)
		}
	}
	if n := requireMetric(t, inst, gauge); n != 0 {
		t.Errorf("%s = %v after the authenticated CreateUploads, with the unauthenticated streams open, want 0", gauge, n)
	}
	if e := endedSoFar(); len(e) > 0 {
		t.Errorf("the unauthenticated streams ended before the last check, which then proves nothing: %q", e)
	}
}

// requireMetric reads an unlabelled metric from the instance's /metrics
// and fails the test when it is absent.
func requireMetric(t *testing.T, inst *instance, name string) float64 {
	t.Helper()
	v, ok := inst.lookupMetric(t, name)
	if !ok {
		t.Fatalf("/metrics lacks %s", name)
	}
	return v
}
