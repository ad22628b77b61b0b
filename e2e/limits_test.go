package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainBinary is presignd built once without the race detector: memory
// figures of the race-instrumented binary measure mostly the detector.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		plainPath = filepath.Join(filepath.Dir(binary), "presignd-plain")
		out, err := exec.Command("go", "build", "-o", plainPath, "../cmd/presignd").CombinedOutput()
		if err != nil {
			plainErr = fmt.Errorf("build presignd without -race: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainPath
}

// withOpenFileLimit returns a script that runs bin with its open-file
// limit, soft and hard, at n. The script execs bin: the process id stays
// the server's.
func withOpenFileLimit(t *testing.T, bin string, n int) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "presignd-nofile")
	body := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 1\nexec '%s' \"$@\"\n", n, bin)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// procStatusKiB reads a kB field of /proc/PID/status, such as VmRSS or
// VmHWM (the peak RSS).
func procStatusKiB(t *testing.T, pid int, name string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, name)
	return 0
}

// openFDs counts the open file descriptors of pid.
func openFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(entries)
}

// requireProc skips t where /proc does not describe processes.
func requireProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the server's memory and file descriptors")
	}
}

// watchRSS calls over (once) as soon as pid's RSS passes ceilingKiB, and
// returns a function that stops watching.
func watchRSS(t *testing.T, pid int, ceilingKiB int64, over func(kib int64)) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(raw), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					if kib > ceilingKiB {
						over(kib)
						return
					}
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// hugeJSONBody writes {"filename": "aaa…"} of exactly size bytes to w from
// a small buffer, until size is reached or a write fails. It returns how
// many bytes were written.
func hugeJSONBody(w io.Writer, size int64) (int64, error) {
	const head, tail = `{"filename": "`, `"}`
	n, err := io.WriteString(w, head)
	written := int64(n)
	if err != nil {
		return written, err
	}
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	for left := size - int64(len(head)+len(tail)); left > 0; {
		p := chunk[:min(int64(len(chunk)), left)]
		n, err := w.Write(p)
		written += int64(n)
		left -= int64(n)
		if err != nil {
			return written, err
		}
	}
	n, err = io.WriteString(w, tail)
	return written + int64(n), err
}

// postHuge sends a size-byte JSON body to /v1/uploads with no credential
// over its own connection (declared with Content-Length, or chunked), reads
// the answer while the body is still going, and returns it with the bytes
// sent by the time the answer came. ctx ending closes the connection.
func postHuge(ctx context.Context, addr string, size int64, chunked bool) (int, []byte, int64, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, nil, 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var sent atomic.Int64
	go func() {
		head := "POST /v1/uploads HTTP/1.1\r\nHost: presignd\r\nContent-Type: application/json\r\n"
		var w io.Writer = conn
		if chunked {
			head += "Transfer-Encoding: chunked\r\n\r\n"
			w = httputil.NewChunkedWriter(conn)
		} else {
			head += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
		}
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		n, _ := hugeJSONBody(countingWriter{w, &sent}, size)
		_ = n
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, sent.Load(), err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, sent.Load(), err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// TestUnauthenticatedMemoryExhaustionOverREST (issue 18, defect 2): four
// parallel 200 MB JSON bodies to /v1/uploads with no credential are
// refused with 413 and a JSON status naming the limit, before the server
// buffers them, whether their size is declared or they come chunked; the
// server's peak RSS stays under 100 MB.
func TestUnauthenticatedMemoryExhaustionOverREST(t *testing.T) {
	requireProc(t)
	const (
		bodySize   = 200 << 20
		parallel   = 4
		ceilingKiB = 100 << 10
	)
	inst := startBinary(t, plainBinary(t))
	pid := inst.cmd.Process.Pid
	addr := strings.TrimPrefix(inst.HTTPURL, "http://")
	t.Logf("server RSS before: %d KiB", procStatusKiB(t, pid, "VmRSS"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var overAt atomic.Int64
	stopWatch := watchRSS(t, pid, ceilingKiB, func(kib int64) { overAt.Store(kib); cancel() })
	defer stopWatch()

	for _, tt := range []struct {
		name    string
		chunked bool
	}{
		{"declared with Content-Length", false},
		{"sent chunked, size unknown", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Go(func() {
					code, body, sent, err := postHuge(ctx, addr, bodySize, tt.chunked)
					if err != nil {
						t.Errorf("body %d: %v after %d bytes sent (server RSS passed the ceiling at %d KiB)", i, err, sent, overAt.Load())
						return
					}
					t.Logf("body %d: %d after %d of %d bytes sent", i, code, sent, bodySize)
					var st struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					}
					if code != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &st) != nil ||
						st.Code != int(codes.ResourceExhausted) || !strings.Contains(st.Message, strconv.Itoa(4<<20)) {
						t.Errorf("body %d: %d %s, want 413 with a RESOURCE_EXHAUSTED status naming the limit of %d bytes", i, code, body, 4<<20)
					}
				})
			}
			wg.Wait()
		})
	}
	stopWatch()
	peak := procStatusKiB(t, pid, "VmHWM")
	t.Logf("server peak RSS (VmHWM): %d KiB", peak)
	if peak > ceilingKiB {
		t.Errorf("server peak RSS %d KiB, want under %d KiB", peak, ceilingKiB)
	}
}

// TestRequestTooLargeIs413OverRESTAndResourceExhaustedOverGRPC: a request
// over limits.max_request_size is 413 over REST and RESOURCE_EXHAUSTED over
// gRPC, each with a message naming the limit; one under it is served.
func TestRequestTooLargeIs413OverRESTAndResourceExhaustedOverGRPC(t *testing.T) {
	const limit = 64 << 10
	t.Setenv("PRESIGND_LIMITS_MAX_REQUEST_SIZE", "64KiB")
	inst := start(t)
	metadataOf := func(size int) map[string]string { return map[string]string{"blob": strings.Repeat("x", size)} }

	t.Run("REST", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			size int
			want int
		}{
			{"under the limit is served", 1 << 10, http.StatusOK},
			{"over the limit is 413", limit + 1<<10, http.StatusRequestEntityTooLarge},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, body := inst.rest(t, "POST", "/v1/uploads", map[string]any{
					"filename": "big.txt", "content_type": "text/plain", "size_bytes": 5, "metadata": metadataOf(tt.size),
				})
				if code != tt.want {
					t.Fatalf("%d %v, want %d", code, body, tt.want)
				}
				if tt.want == http.StatusRequestEntityTooLarge {
					if c, _ := body["code"].(float64); int(c) != int(codes.ResourceExhausted) || !strings.Contains(str(body, "message"), strconv.Itoa(limit)) {
						t.Errorf("body %v, want a RESOURCE_EXHAUSTED status naming %d bytes", body, limit)
					}
				}
			})
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		client := inst.grpcClient(t)
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+inst.APIKey), 30*time.Second)
		defer cancel()
		for _, tt := range []struct {
			name string
			size int
			want codes.Code
		}{
			{"under the limit is served", 1 << 10, codes.OK},
			{"over the limit is RESOURCE_EXHAUSTED", limit + 1<<10, codes.ResourceExhausted},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{
					Filename: "big.txt", ContentType: "text/plain", SizeBytes: 5, Metadata: metadataOf(tt.size),
				})
				if status.Code(err) != tt.want {
					t.Fatalf("CreateUpload: %v, want %v", err, tt.want)
				}
				if tt.want == codes.ResourceExhausted && !strings.Contains(status.Convert(err).Message(), strconv.Itoa(limit)) {
					t.Errorf("message %q does not name the limit of %d bytes", status.Convert(err).Message(), limit)
				}
			})
		}
	})
}

// TestConnectionsAreTimedOut (issue 18, defect 3): on a process allowed
// 1,024 file descriptors, a flood of 1,200 loopback connections (idle
// keep-alive ones and slow-body POSTs) neither exhausts the descriptors
// nor stops a real CreateUpload, every flood connection is closed by the
// server's timeouts, and an upload to the local route that keeps moving
// outlives the API's read timeout.
func TestConnectionsAreTimedOut(t *testing.T) {
	requireProc(t)
	const (
		fdLimit = 1024
		idle    = 600
		slow    = 600
	)
	for k, v := range map[string]string{
		"PRESIGND_LIMITS_HEADER_TIMEOUT":             "2s",
		"PRESIGND_LIMITS_HTTP_READ_TIMEOUT":          "2s",
		"PRESIGND_LIMITS_HTTP_IDLE_TIMEOUT":          "2s",
		"PRESIGND_LIMITS_HTTP_TRANSFER_IDLE_TIMEOUT": "5s",
	} {
		t.Setenv(k, v)
	}
	inst := startBinary(t, withOpenFileLimit(t, binary, fdLimit))
	pid := inst.cmd.Process.Pid
	addr := strings.TrimPrefix(inst.HTTPURL, "http://")
	t.Logf("server fds before the flood: %d", openFDs(pid))

	// The flood: each connection sends its request, then waits for the
	// server to close it.
	var closed atomic.Int64
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range idle + slow {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		conns = append(conns, c)
		req := "GET /healthz HTTP/1.1\r\nHost: presignd\r\n\r\n" // then idle, kept alive
		if i >= idle {
			req = "POST /v1/uploads HTTP/1.1\r\nHost: presignd\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"filename\"" // and no more
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		go func() {
			_, _ = io.Copy(io.Discard, c) // until the server closes it
			closed.Add(1)
		}()
	}

	// Watch the server's descriptors while a real call goes through.
	var maxFDs atomic.Int64
	stopFDs := make(chan struct{})
	fdsDone := make(chan struct{})
	go func() {
		defer close(fdsDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := int64(openFDs(pid)); n > maxFDs.Load() {
				maxFDs.Store(n)
			}
			select {
			case <-stopFDs:
				return
			case <-tick.C:
			}
		}
	}()
	began := time.Now()
	code, err := createUploadWithin(inst, 90*time.Second)
	latency := time.Since(began)
	if err != nil || code != http.StatusOK {
		close(stopFDs)
		<-fdsDone
		t.Fatalf("CreateUpload during the flood: %d %v after %v; server fds at most %d (limit %d)", code, err, latency, maxFDs.Load(), fdLimit)
	}
	t.Logf("CreateUpload during the flood answered 200 in %v", latency)

	deadline := time.Now().Add(90 * time.Second)
	for closed.Load() < idle+slow && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stopFDs)
	<-fdsDone
	t.Logf("server fds at most %d during the flood (limit %d); %d of %d flood connections closed by the server after %v",
		maxFDs.Load(), fdLimit, closed.Load(), idle+slow, time.Since(began))
	if n := closed.Load(); n < idle+slow {
		t.Errorf("%d of %d idle and slow-body connections are still open after 90s", idle+slow-n, idle+slow)
	}
	if strings.Contains(inst.output.String(), "too many open files") {
		t.Errorf("the server ran out of file descriptors")
	}

	t.Run("an upload to the local route that keeps moving outlives the read timeout", func(t *testing.T) {
		const size, pieces = 16 << 10, 16
		code, body := inst.rest(t, "POST", "/v1/uploads", map[string]any{"filename": "slow.bin", "content_type": "application/octet-stream", "size_bytes": size})
		if code != http.StatusOK {
			t.Fatalf("CreateUpload: %d %v", code, body)
		}
		target := targetFromJSON(t, field(body, "upload_target"))
		pr, pw := io.Pipe()
		go func() {
			piece := bytes.Repeat([]byte("z"), size/pieces)
			tick := time.NewTicker(250 * time.Millisecond) // 4s in all, twice the read timeout
			defer tick.Stop()
			for range pieces {
				<-tick.C
				if _, err := pw.Write(piece); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequest(target.Method, target.URL, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		for k, v := range target.Headers {
			req.Header.Set(k, v)
		}
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("slow upload: %v after %v", err, time.Since(began))
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("slow upload: %d after %v", resp.StatusCode, time.Since(began))
		}
		t.Logf("slow upload: %d after %v", resp.StatusCode, time.Since(began))
	})
}

// createUploadWithin sends one REST CreateUpload with the instance's key
// and returns its HTTP status, or an error if none came within d.
func createUploadWithin(inst *instance, d time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", inst.HTTPURL+"/v1/uploads",
		strings.NewReader(`{"filename": "real.txt", "content_type": "text/plain", "size_bytes": 5}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+inst.APIKey)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestUnauthenticatedGRPCStreamsUseBoundedMemory (issue 18, defect 4):
// 20,000 header-only CreateUpload streams with no credential on one
// connection, no message sent, leave the server's peak RSS under 100 MB,
// another client's call is served meanwhile, and every one of the streams
// is ended by the server: refused, or canceled after the request timeout.
func TestUnauthenticatedGRPCStreamsUseBoundedMemory(t *testing.T) {
	requireProc(t)
	const (
		streams    = 20000
		ceilingKiB = 100 << 10
	)
	t.Setenv("PRESIGND_LIMITS_GRPC_REQUEST_TIMEOUT", "2s")
	inst := startBinary(t, plainBinary(t))
	pid := inst.cmd.Process.Pid
	t.Logf("server RSS before: %d KiB", procStatusKiB(t, pid, "VmRSS"))

	conn, err := net.DialTimeout("tcp", inst.GRPCAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var wmu sync.Mutex // the framer's writes
	fr := http2.NewFramer(conn, conn)
	fr.MaxHeaderListSize = 1 << 20
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// Read the server's frames: acknowledge its settings and pings, count
	// refused streams, and report the ping that marks the end of the flood.
	var refused atomic.Int64
	var endedMu sync.Mutex
	ended := map[uint32]bool{} // streams the server ended
	endedCount := func() int { endedMu.Lock(); defer endedMu.Unlock(); return len(ended) }
	flushed := make(chan struct{})
	readErr := make(chan error, 1)
	marker := [8]byte{'f', 'l', 'o', 'o', 'd', 'e', 'n', 'd'}
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				readErr <- err
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
					close(flushed)
				} else if !f.IsAck() {
					wmu.Lock()
					_ = fr.WritePing(true, f.Data)
					wmu.Unlock()
				}
			case *http2.RSTStreamFrame:
				if f.ErrCode == http2.ErrCodeRefusedStream {
					refused.Add(1)
				}
				endedMu.Lock()
				ended[f.StreamID] = true
				endedMu.Unlock()
			case *http2.HeadersFrame:
				if f.StreamEnded() {
					endedMu.Lock()
					ended[f.StreamID] = true
					endedMu.Unlock()
				}
			case *http2.GoAwayFrame:
				readErr <- fmt.Errorf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				return
			}
		}
	}()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/presignd.v1.FileService/CreateUpload"},
		{":authority", inst.GRPCAddr}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	first := append([]byte(nil), block.Bytes()...)
	block.Reset()
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/presignd.v1.FileService/CreateUpload"},
		{":authority", inst.GRPCAddr}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	rest := append([]byte(nil), block.Bytes()...) // indexed from the dynamic table
	for i := range streams {
		frag := rest
		if i == 0 {
			frag = first
		}
		wmu.Lock()
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: frag, EndHeaders: true})
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
	case <-flushed: // the server has taken in every stream before the ping
	case err := <-readErr:
		t.Logf("the server ended the flood connection: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not answer the ping after the flood within 60s")
	}
	t.Logf("%d streams sent, %d refused; server RSS %d KiB", streams, refused.Load(), procStatusKiB(t, pid, "VmRSS"))

	// Another client is served while the flood connection stays open.
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+inst.APIKey), 30*time.Second)
	defer cancel()
	began := time.Now()
	if _, err := inst.grpcClient(t).CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "real.txt", ContentType: "text/plain", SizeBytes: 5}); err != nil {
		t.Fatalf("another client's CreateUpload during the flood: %v", err)
	}
	t.Logf("another client's CreateUpload during the flood: %v", time.Since(began))
	peak := procStatusKiB(t, pid, "VmHWM")
	t.Logf("server peak RSS (VmHWM): %d KiB", peak)
	if peak > ceilingKiB {
		t.Errorf("server peak RSS %d KiB after %d header-only streams, want under %d KiB", peak, streams, ceilingKiB)
	}

	deadline := time.Now().Add(60 * time.Second)
	for endedCount() < streams && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := endedCount(); n < streams {
		t.Errorf("%d of %d header-only streams are still open after 60s", streams-n, streams)
	}
	t.Logf("%d of %d streams ended by the server %v after the flood", endedCount(), streams, time.Since(began))
}

// TestReadyzLeaksNoInternals (issue 18, defect 6): /readyz names the
// component that is down and nothing of the driver's error (user,
// database, address); the details are in the log.
func TestReadyzLeaksNoInternals(t *testing.T) {
	t.Run("an unreachable backend", func(t *testing.T) {
		inst := start(t, "--config", writeConfig(t, `
backends:
  local: {driver: local}
  gone:
    driver: s3
    s3: {bucket: b, region: us-east-1, endpoint: "http://127.0.0.1:9", use_path_style: true, access_key_id: a, secret_access_key: b}
categories:
  default: {backend: local}
`))
		code, body, _ := httpGet(t, inst.HTTPURL+"/readyz")
		if code != http.StatusServiceUnavailable || body != "not ready: backend gone unavailable\n" {
			t.Errorf("/readyz = %d %q, want 503 %q", code, body, "not ready: backend gone unavailable\n")
		}
		if !outputShows(inst, "127.0.0.1:9", 10*time.Second) {
			t.Errorf("the log does not say why the backend is down:\n%s", inst.output)
		}
	})
	t.Run("a database that refuses connections", func(t *testing.T) {
		uri, dbname := postgresDatabase(t)
		inst := start(t, "--config", writeConfig(t, fmt.Sprintf("store:\n  driver: postgres\n  postgres: {uri: %q}\n", uri)))
		if code, body, _ := httpGet(t, inst.HTTPURL+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz before the outage = %d %q", code, body)
		}
		refuseConnections(t, dbname)
		// The first ping may fail on a killed session; later ones fail to
		// connect, with the driver naming user, database and address.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(inst.output.String(), "database="+dbname) {
			if time.Now().After(deadline) {
				t.Fatalf("the log does not say why the store is down:\n%s", inst.output)
			}
			code, body, _ := httpGet(t, inst.HTTPURL+"/readyz")
			if code != http.StatusServiceUnavailable || body != "not ready: store unavailable\n" {
				t.Fatalf("/readyz = %d %q, want 503 %q", code, body, "not ready: store unavailable\n")
			}
			for _, secret := range []string{dbname, "postgres", "127.0.0.1", "5432", "user=", "SQLSTATE"} {
				if strings.Contains(body, secret) {
					t.Fatalf("/readyz body %q carries %q", body, secret)
				}
			}
		}
	})
}

// outputShows waits up to d for the instance's output to contain s: its
// log reaches the output through a pipe, after the answer it logs about.
func outputShows(inst *instance, s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(inst.output.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// postgresDatabase creates a database of its own on the test server
// (dropped when t ends) and returns its URI and name; it skips t when no
// test server is configured.
func postgresDatabase(t *testing.T) (uri, name string) {
	t.Helper()
	admin := os.Getenv(postgresURIEnv)
	if admin == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL URI, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run this test", postgresURIEnv)
	}
	name = fmt.Sprintf("presignd_readyz_%d", time.Now().UnixNano())
	psql(t, admin, `CREATE DATABASE `+name)
	t.Cleanup(func() { psql(t, admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := urlWithDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return u, name
}

// refuseConnections makes database name refuse new connections and ends
// its sessions.
func refuseConnections(t *testing.T, name string) {
	t.Helper()
	admin := os.Getenv(postgresURIEnv)
	psql(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	psql(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+name+`'`)
}

func psql(t *testing.T, uri, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// urlWithDatabase is uri with its database replaced by name.
func urlWithDatabase(uri, name string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
