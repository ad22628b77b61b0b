package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnectionCapStaysBelowTheOpenFileLimit(t *testing.T) {
	tests := []struct {
		name       string
		configured int
		fdLimit    uint64
		want       int
	}{
		{"automatic on 1024 files: half of what the reserve leaves, per listener", 0, 1024, 384},
		{"automatic on 4096 files", 0, 4096, 1920},
		{"automatic on a large limit stops at 10000", 0, 1 << 20, 10000},
		{"automatic with an unknown limit", 0, 0, 10000},
		{"automatic on a tiny limit keeps a few", 0, 64, 16},
		{"a configured cap that fits is kept", 300, 1024, 300},
		{"a configured cap over the limit is lowered", 5000, 1024, 384},
		{"a configured cap with an unknown limit is kept", 50000, 0, 50000},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectionCap(tt.configured, tt.fdLimit, log); got != tt.want {
				t.Errorf("connectionCap(%d, %d) = %d, want %d", tt.configured, tt.fdLimit, got, tt.want)
			}
		})
	}
}

// limitedServer serves h on loopback through a connLimiter of n.
func limitedServer(t *testing.T, n int, h http.Handler) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, n)
	srv := &http.Server{Handler: h, ConnState: l.ConnState}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// get sends a GET on c and returns the answer's status.
func get(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestConnLimiter(t *testing.T) {
	dial := func(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c, bufio.NewReader(c)
	}
	t.Run("an idle keep-alive connection makes room for a new one", func(t *testing.T) {
		addr := limitedServer(t, 1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		idle, idleR := dial(t, addr)
		if code := get(t, idle, idleR); code != http.StatusOK {
			t.Fatalf("first connection: %d", code)
		}
		next, nextR := dial(t, addr)
		if code := get(t, next, nextR); code != http.StatusOK {
			t.Fatalf("second connection: %d", code)
		}
		if _, err := idleR.ReadByte(); err != io.EOF {
			t.Errorf("the idle connection: read %v, want EOF (closed to make room)", err)
		}
	})
	t.Run("with none idle, a new connection waits until one is", func(t *testing.T) {
		release := make(chan struct{})
		var served atomic.Int32
		addr := limitedServer(t, 1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if served.Add(1) == 1 {
				<-release
			}
		}))
		busy, busyR := dial(t, addr)
		answered := make(chan int, 1)
		go func() {
			io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(busyR, nil)
			if err != nil {
				answered <- 0
				return
			}
			resp.Body.Close()
			answered <- resp.StatusCode
		}()
		for served.Load() == 0 { // the first request is in its handler
			time.Sleep(time.Millisecond)
		}
		next, nextR := dial(t, addr)
		nextCode := make(chan int, 1)
		go func() {
			io.WriteString(next, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(nextR, nil)
			if err != nil {
				nextCode <- 0
				return
			}
			resp.Body.Close()
			nextCode <- resp.StatusCode
		}()
		close(release)
		if code := <-answered; code != http.StatusOK {
			t.Fatalf("the busy connection's request: %d", code)
		}
		if code := <-nextCode; code != http.StatusOK {
			t.Fatalf("the waiting connection: %d", code)
		}
		if n := served.Load(); n != 2 {
			t.Errorf("%d requests served, want 2", n)
		}
	})
}
