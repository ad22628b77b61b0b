// Package clamd is a scanner.Scanner over ClamAV's daemon, clamd: it
// streams the bytes with the INSTREAM command over TCP or a unix socket,
// in chunks of a fixed size, so a scan holds one chunk in memory whatever
// the size of the stream.
package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/presignd/presignd/scanner"
)

// Config configures New.
type Config struct {
	// Address is clamd's socket: "host:port" or "tcp://host:port" for
	// TCP, "unix:///path" or an absolute path for a unix socket.
	Address string
	// ChunkSize is the size of the INSTREAM chunks (64 KiB): the memory
	// one scan holds.
	ChunkSize int
	// Timeout bounds one scan or ping, connection included (2m).
	Timeout time.Duration
	// DialTimeout bounds the connection (5s).
	DialTimeout time.Duration
}

// Client talks to one clamd. It is safe for concurrent use: each call
// opens its own connection.
type Client struct {
	network, address string
	cfg              Config
}

// maxReply bounds what a reply is read up to: clamd's replies are short
// lines, and a peer that sends more is not clamd.
const maxReply = 4096

// New checks cfg and returns a Client; it does not connect. An empty or
// malformed address, or a negative size or duration, is an error.
func New(cfg Config) (*Client, error) {
	network, address, err := ParseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.ChunkSize < 0 || cfg.Timeout < 0 || cfg.DialTimeout < 0 {
		return nil, errors.New("clamd: negative chunk size or timeout")
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = 64 << 10
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	return &Client{network: network, address: address, cfg: cfg}, nil
}

// ParseAddress splits a clamd address into a network ("tcp" or "unix")
// and the address to dial; see Config.Address.
func ParseAddress(s string) (network, address string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("clamd: no address")
	case strings.HasPrefix(s, "unix://"):
		network, address = "unix", strings.TrimPrefix(s, "unix://")
	case strings.HasPrefix(s, "/"):
		network, address = "unix", s
	case strings.HasPrefix(s, "tcp://"):
		network, address = "tcp", strings.TrimPrefix(s, "tcp://")
	default:
		network, address = "tcp", s
	}
	if network == "unix" {
		if !strings.HasPrefix(address, "/") {
			return "", "", fmt.Errorf("clamd: unix socket %q is not an absolute path", s)
		}
		return network, address, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("clamd: address %q is not host:port", s)
	}
	return network, address, nil
}

// Ping sends PING and expects PONG.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return c.ioError(ctx, "ping", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return c.ioError(ctx, "ping", err)
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd: ping answered %q", reply)
	}
	return nil
}

// Scan streams r to clamd with INSTREAM and returns the signature clamd
// found, or "" for a clean stream. A stream over clamd's StreamMaxLength
// is scanner.ErrTooLarge; an error reply, a connection that fails or a
// reply that is not clamd's is an error to retry.
func (c *Client) Scan(ctx context.Context, r io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	writeErr := c.stream(conn, r)
	var readErr *sourceError
	if errors.As(writeErr, &readErr) {
		// The bytes could not be read: that says nothing about clamd.
		return "", writeErr
	}
	// A clamd that refuses the stream (over StreamMaxLength) answers and
	// closes while the chunks are still being written, so the reply is
	// read even after a failed write.
	reply, err := readReply(conn)
	if err != nil {
		if writeErr != nil {
			return "", c.ioError(ctx, "instream", writeErr)
		}
		return "", c.ioError(ctx, "instream reply", err)
	}
	return ParseReply(reply)
}

// sourceError is a failure to read the stream being scanned.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "clamd: read the stream: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// stream writes the INSTREAM command, r in chunks of 4-byte big-endian
// length and data, and the zero-length chunk that ends the stream.
func (c *Client) stream(conn net.Conn, r io.Reader) error {
	w := bufio.NewWriterSize(conn, c.cfg.ChunkSize+4)
	if _, err := w.WriteString("zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, c.cfg.ChunkSize)
	var size [4]byte
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			binary.BigEndian.PutUint32(size[:], uint32(n))
			if _, werr := w.Write(size[:]); werr != nil {
				return werr
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return &sourceError{err}
		}
	}
	binary.BigEndian.PutUint32(size[:], 0)
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	return w.Flush()
}

// dial connects to clamd with ctx's deadline set on the connection; stop
// closes it. The connection's reads and writes fail early when ctx ends.
func (c *Client) dial(ctx context.Context) (net.Conn, func(), error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, nil, c.ioError(ctx, "connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	unwatch := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() {
		unwatch()
		_ = conn.Close()
	}, nil
}

// ioError is err of op, or ctx's error when ctx ended (or its deadline,
// which the connection shares, passed): the connection's error is then
// only a consequence.
func (c *Client) ioError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("clamd: %s: %w", op, ctx.Err())
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("clamd: %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("clamd: %s on %s: %w", op, c.address, err)
}

// readReply reads one NUL-terminated reply (the z-prefixed commands'
// form), or up to the end of the connection, at most maxReply bytes.
func readReply(conn io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(&untilNUL{r: conn}, maxReply+1))
	if err != nil && len(b) == 0 {
		return "", err
	}
	if len(b) > maxReply {
		return "", fmt.Errorf("reply longer than %d bytes", maxReply)
	}
	if len(b) == 0 {
		return "", io.ErrUnexpectedEOF
	}
	return string(b), nil
}

// untilNUL reads r up to, not including, the first NUL, one byte at a
// time so nothing past it is consumed.
type untilNUL struct {
	r    io.Reader
	done bool
}

func (u *untilNUL) Read(p []byte) (int, error) {
	if u.done || len(p) == 0 {
		return 0, io.EOF
	}
	n, err := u.r.Read(p[:1])
	if n == 1 && p[0] == 0 {
		u.done = true
		return 0, io.EOF
	}
	return n, err
}

// ParseReply reads clamd's answer to INSTREAM: "stream: OK" is clean
// (""), "stream: <signature> FOUND" names the signature, "... ERROR" is an
// error (scanner.ErrTooLarge for the size limit), and anything else is an
// error naming the reply. A session id prefix ("1: ") and trailing
// newlines and NULs are ignored.
func ParseReply(reply string) (string, error) {
	s := strings.TrimRight(reply, "\x00\r\n")
	if i := strings.Index(s, ": stream: "); i > 0 && isDigits(s[:i]) {
		s = s[i+2:]
	}
	switch {
	case strings.HasSuffix(s, " ERROR"):
		msg := strings.TrimSpace(strings.TrimSuffix(s, " ERROR"))
		if strings.Contains(msg, "size limit exceeded") {
			return "", fmt.Errorf("clamd: %s: %w", printable(msg), scanner.ErrTooLarge)
		}
		return "", fmt.Errorf("clamd: error reply %q", printable(msg))
	case s == "stream: OK":
		return "", nil
	case strings.HasPrefix(s, "stream: ") && strings.HasSuffix(s, " FOUND"):
		sig := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "stream: "), " FOUND"))
		if sig == "" || !isPrintable(sig) {
			return "", fmt.Errorf("clamd: malformed FOUND reply %q", printable(s))
		}
		return sig, nil
	}
	return "", fmt.Errorf("clamd: unexpected reply %q", printable(s))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isPrintable reports whether s is printable ASCII, as signature names are.
func isPrintable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable cuts s to 200 bytes for an error message.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return string(bytes.ToValidUTF8([]byte(s), nil))
}
