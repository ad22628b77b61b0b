package clamd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/scanner"
	"github.com/presignd/presignd/scanner/clamd"
)

// eicar is the EICAR anti-virus test file: harmless bytes every scanner
// reports as infected.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

var _ scanner.Scanner = (*clamd.Client)(nil)

func realClamd(t *testing.T) *clamd.Client {
	t.Helper()
	addr := testenv.Get(t, "PRESIGND_TEST_CLAMD_ADDR",
		"start clamd with a test database (source .ci/clamd.sh && clamd_start) to run the tests against a real clamd")
	c, err := clamd.New(clamd.Config{Address: addr, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScanAgainstRealClamd(t *testing.T) {
	c := realClamd(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for _, tc := range []struct {
		name    string
		body    io.Reader
		wantSig string
		wantErr error
	}{
		{name: "the EICAR test file is found", body: strings.NewReader(eicar), wantSig: "Eicar-Test-Signature"},
		{name: "a clean stream is OK", body: strings.NewReader("hello, clamd"), wantSig: ""},
		{name: "an empty stream is OK", body: strings.NewReader(""), wantSig: ""},
		{name: "a clean stream of many chunks is OK", body: io.LimitReader(zeros{}, 700<<10), wantSig: ""},
		{name: "a stream over StreamMaxLength is too large", body: io.LimitReader(zeros{}, 3<<20), wantErr: scanner.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := c.Scan(ctx, tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Scan = %q, %v; want %v", sig, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			// clamd names signatures of an unofficial database with a suffix.
			if tc.wantSig == "" && sig != "" || tc.wantSig != "" && !strings.HasPrefix(sig, tc.wantSig) {
				t.Fatalf("Scan = %q, want %q", sig, tc.wantSig)
			}
		})
	}
}

func TestConcurrentScansAgainstRealClamd(t *testing.T) {
	c := realClamd(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			body, want := "clean "+strings.Repeat("x", i), ""
			if i%2 == 0 {
				body, want = eicar, "Eicar-Test-Signature"
			}
			sig, err := c.Scan(context.Background(), strings.NewReader(body))
			if err == nil && !strings.HasPrefix(sig, want) || want == "" && sig != "" {
				err = errors.New("scan " + body + " = " + sig)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// fakeClamd serves one connection at a time with handle on a loopback
// port, and returns the address.
func fakeClamd(t *testing.T, handle func(conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(conn)
			})
		}
	})
	return ln.Addr().String()
}

// readInstream reads an INSTREAM command and its chunks as clamd does,
// failing on bad framing, and returns the bytes and the chunk sizes.
func readInstream(conn net.Conn) ([]byte, []int, error) {
	cmd := make([]byte, len("zINSTREAM\x00"))
	if _, err := io.ReadFull(conn, cmd); err != nil {
		return nil, nil, err
	}
	if string(cmd) != "zINSTREAM\x00" {
		return nil, nil, errors.New("command " + string(cmd))
	}
	var body []byte
	var sizes []int
	for {
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return nil, nil, err
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			return body, sizes, nil
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(conn, chunk); err != nil {
			return nil, nil, err
		}
		body = append(body, chunk...)
		sizes = append(sizes, int(n))
	}
}

func TestScanProtocol(t *testing.T) {
	type result struct {
		body  []byte
		sizes []int
		err   error
	}
	for _, tc := range []struct {
		name    string
		body    string
		reply   string // written after the stream is read
		early   string // written, and the connection closed, before reading the stream
		wantSig string
		wantErr error  // errors.Is
		errText string // in the error
	}{
		{name: "chunks are framed with big-endian lengths and a zero terminator", body: strings.Repeat("a", 10000), reply: "stream: OK\x00"},
		{name: "a FOUND reply names the signature", body: "x", reply: "stream: Win.Test.EICAR_HDB-1 FOUND\x00", wantSig: "Win.Test.EICAR_HDB-1"},
		{name: "a reply with a session id prefix is understood", body: "x", reply: "7: stream: OK\x00"},
		{name: "a reply ended by the connection instead of a NUL is understood", body: "x", reply: "stream: Bad FOUND\n", wantSig: "Bad"},
		{name: "the size limit reply is ErrTooLarge", body: "x", reply: "INSTREAM size limit exceeded. ERROR\x00", wantErr: scanner.ErrTooLarge},
		{name: "clamd refusing the stream while it is written is ErrTooLarge", body: strings.Repeat("b", 4<<20), early: "INSTREAM size limit exceeded. ERROR\x00", wantErr: scanner.ErrTooLarge},
		{name: "another ERROR reply is an error naming it", body: "x", reply: "stream: Can't allocate memory ERROR\x00", errText: "Can't allocate memory"},
		{name: "an unknown reply is an error", body: "x", reply: "UNKNOWN COMMAND\x00", errText: "unexpected reply"},
		{name: "no reply is an error", body: "x", reply: "", errText: "instream"},
		{name: "a reply longer than any of clamd's is refused", body: "x", reply: "stream: " + strings.Repeat("A", 10000) + " FOUND\x00", errText: "longer than"},
		{name: "a FOUND reply without a signature is an error", body: "x", reply: "stream:  FOUND\x00", errText: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan result, 1)
			addr := fakeClamd(t, func(conn net.Conn) {
				if tc.early != "" {
					cmd := make([]byte, 1024)
					_, _ = io.ReadFull(conn, cmd)
					_, _ = conn.Write([]byte(tc.early))
					got <- result{}
					return
				}
				body, sizes, err := readInstream(conn)
				got <- result{body, sizes, err}
				_, _ = conn.Write([]byte(tc.reply))
			})
			c, err := clamd.New(clamd.Config{Address: addr, ChunkSize: 4096, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := c.Scan(context.Background(), strings.NewReader(tc.body))
			r := <-got
			if r.err != nil {
				t.Fatalf("the server read a malformed stream: %v", r.err)
			}
			if tc.early == "" {
				if string(r.body) != tc.body {
					t.Errorf("the server read %d bytes, want %d", len(r.body), len(tc.body))
				}
				for i, n := range r.sizes {
					if n > 4096 || n != 4096 && i != len(r.sizes)-1 {
						t.Errorf("chunk %d of %d bytes: chunks must be ChunkSize but the last", i, n)
					}
				}
			}
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Scan = %q, %v; want %v", sig, err, tc.wantErr)
				}
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Scan = %q, %v; want an error with %q", sig, err, tc.errText)
				}
				if errors.Is(err, scanner.ErrTooLarge) {
					t.Fatalf("Scan error %v is ErrTooLarge, which is never retried", err)
				}
			case err != nil:
				t.Fatalf("Scan: %v", err)
			case sig != tc.wantSig:
				t.Fatalf("Scan = %q, want %q", sig, tc.wantSig)
			}
		})
	}
}

func TestScanEndsWithItsContext(t *testing.T) {
	addr := fakeClamd(t, func(conn net.Conn) {
		_, _, _ = readInstream(conn)
		// Never answers; the client must give up.
		_, _ = io.Copy(io.Discard, conn)
	})
	c, err := clamd.New(clamd.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Scan(ctx, strings.NewReader("x"))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan after cancel = %v, want context.Canceled", err)
	}
}

func TestScanTimesOut(t *testing.T) {
	addr := fakeClamd(t, func(conn net.Conn) { _, _ = io.Copy(io.Discard, conn) })
	c, err := clamd.New(clamd.Config{Address: addr, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan = %v, want context.DeadlineExceeded", err)
	}
}

func TestScanOfAnUnreachableClamdIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := clamd.New(clamd.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err == nil || errors.Is(err, scanner.ErrTooLarge) {
		t.Fatalf("Scan of a closed port = %v, want a connection error", err)
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("storage went away") }

func TestScanOfAFailingStreamIsAnError(t *testing.T) {
	addr := fakeClamd(t, func(conn net.Conn) { _, _ = io.Copy(io.Discard, conn) })
	c, err := clamd.New(clamd.Config{Address: addr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), failingReader{}); err == nil || !strings.Contains(err.Error(), "storage went away") {
		t.Fatalf("Scan = %v, want the stream's error", err)
	}
}

func TestPingOverAUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "clamd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		cmd := make([]byte, len("zPING\x00"))
		if _, err := io.ReadFull(conn, cmd); err == nil && bytes.Equal(cmd, []byte("zPING\x00")) {
			_, _ = conn.Write([]byte("PONG\x00"))
		}
	}()
	c, err := clamd.New(clamd.Config{Address: "unix://" + path})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, network, address string
		bad                  bool
	}{
		{in: "127.0.0.1:3310", network: "tcp", address: "127.0.0.1:3310"},
		{in: "tcp://clamd:3310", network: "tcp", address: "clamd:3310"},
		{in: "unix:///run/clamav/clamd.ctl", network: "unix", address: "/run/clamav/clamd.ctl"},
		{in: "/run/clamav/clamd.ctl", network: "unix", address: "/run/clamav/clamd.ctl"},
		{in: "", bad: true},
		{in: "clamd", bad: true},
		{in: ":3310", bad: true},
		{in: "unix://relative.sock", bad: true},
	} {
		network, address, err := clamd.ParseAddress(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseAddress(%q) = %s %s, want an error", tc.in, network, address)
			}
			continue
		}
		if err != nil || network != tc.network || address != tc.address {
			t.Errorf("ParseAddress(%q) = %s, %s, %v; want %s, %s", tc.in, network, address, err, tc.network, tc.address)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"stream: OK", "stream: OK\x00", "stream: Eicar-Test-Signature.UNOFFICIAL FOUND\x00",
		"1: stream: OK", "INSTREAM size limit exceeded. ERROR", "stream: x ERROR", "",
		"stream:  FOUND", ": stream: OK", "stream: \xff FOUND",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		sig, err := clamd.ParseReply(reply)
		if err != nil {
			if sig != "" {
				t.Fatalf("ParseReply(%q) = %q and an error", reply, sig)
			}
			return
		}
		if sig == "" {
			return
		}
		// A signature is a printable name, and reads back the same.
		for i := range len(sig) {
			if sig[i] < 0x20 || sig[i] > 0x7e {
				t.Fatalf("ParseReply(%q) = %q, not printable", reply, sig)
			}
		}
		if again, err := clamd.ParseReply("stream: " + sig + " FOUND"); err != nil || again != sig {
			t.Fatalf("ParseReply of signature %q = %q, %v", sig, again, err)
		}
	})
}

// BenchmarkScanCleanStream measures a scan of a clean 512 KiB stream
// against the real clamd (one connection per scan): the cost the scanner
// adds to a file, mostly clamd's.
func BenchmarkScanCleanStream(b *testing.B) {
	addr := testenv.Get(b, "PRESIGND_TEST_CLAMD_ADDR", "start clamd (source .ci/clamd.sh && clamd_start) to run the benchmark")
	c, err := clamd.New(clamd.Config{Address: addr})
	if err != nil {
		b.Fatal(err)
	}
	const size = 512 << 10
	body := bytes.Repeat([]byte("presignd "), size/9+1)[:size]
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if sig, err := c.Scan(b.Context(), bytes.NewReader(body)); err != nil || sig != "" {
			b.Fatalf("Scan = %q, %v", sig, err)
		}
	}
}
