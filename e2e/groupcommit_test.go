package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
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

	conn, err := net.DialTimeout("tcp", inst.GRPCAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wmu sync.Mutex // the framer's writes
	fr := http2.NewFramer(conn, conn)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var endedMu sync.Mutex
	var ended []string // how the server ended a stream or the connection
	endedSoFar := func() []string { endedMu.Lock(); defer endedMu.Unlock(); return append([]string(nil), ended...) }
	end := func(s string) { endedMu.Lock(); ended = append(ended, s); endedMu.Unlock() }
	marker := [8]byte{'h', 'e', 'a', 'd', 'e', 'r', 's', '!'}
	readAll := make(chan struct{})
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				end("connection: " + err.Error())
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					wmu.Lock()
					_ = fr.WriteSettingsAck()
					wmu.Unlock()
				}
			case *http2.PingFrame:
				if f.IsAck() && f.Data == marker {
					close(readAll)
				} else if !f.IsAck() {
					wmu.Lock()
					_ = fr.WritePing(true, f.Data)
					wmu.Unlock()
				}
			case *http2.RSTStreamFrame:
				end("stream " + strconv.Itoa(int(f.StreamID)) + " reset: " + f.ErrCode.String())
			case *http2.HeadersFrame:
				if f.StreamEnded() {
					end("stream " + strconv.Itoa(int(f.StreamID)) + " answered")
				}
			case *http2.GoAwayFrame:
				end("GOAWAY " + f.ErrCode.String())
			}
		}
	}()
	// Header-only CreateUploads with no credential: no request message, so
	// the call never reaches the interceptor chain; its headers are all the
	// server sees.
	for i := range streams {
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		for _, h := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", "/presignd.v1.FileService/CreateUpload"},
			{":authority", inst.GRPCAddr}, {"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		wmu.Lock()
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndHeaders: true})
		wmu.Unlock()
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	wmu.Lock()
	err = fr.WritePing(false, marker)
	wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-readAll: // the server has read every stream's headers before the ping
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not answer the ping after the streams within 30s; ended: %q", endedSoFar())
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
	code, body, _ := httpGet(t, inst.HTTPURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}
