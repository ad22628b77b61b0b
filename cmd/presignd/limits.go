package main

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/server"
)

// Connection caps when limits.max_connections is 0: each of the two
// listeners gets half of the open-file limit less fdReserve (the store,
// local objects, logs and outgoing connections), and at most
// autoMaxConnections.
const (
	fdReserve          = 256
	autoMaxConnections = 10000
	minMaxConnections  = 16
)

// gRPC keepalive: a connection with no traffic for grpcKeepaliveTime is
// pinged, and closed if the ping is not answered within
// grpcKeepaliveTimeout, so that vanished peers free their connection.
const (
	grpcKeepaliveTime    = time.Minute
	grpcKeepaliveTimeout = 20 * time.Second
)

// connectionCap is the number of connections each listener may hold open:
// the configured limits.max_connections, or with 0 one derived from
// fdLimit (the process's open-file limit; 0 if unknown). A configured
// value that would exhaust the descriptors is lowered, with a warning.
func connectionCap(configured int, fdLimit uint64, log *slog.Logger) int {
	room := autoMaxConnections // the open-file limit is unknown
	if fdLimit > 0 {
		room = max(minMaxConnections, (int(min(fdLimit, 1<<30))-fdReserve)/2)
	}
	switch {
	case configured == 0:
		return min(room, autoMaxConnections)
	case fdLimit > 0 && configured > room:
		log.Warn("limits.max_connections lowered to fit the open-file limit",
			"configured", configured, "open_file_limit", fdLimit, "max_connections", room)
		return room
	}
	return configured
}

// connLimiter is a listener that holds at most n connections open. When a
// connection arrives with n open, the keep-alive connection idle for
// longest (as its http.Server reports through ConnState) is closed to make
// room, as nginx reuses idle keep-alive connections when it runs out;
// with none idle, the new connection waits for one to close or go idle. A flood of
// idle connections therefore cannot keep a new caller out, while one of
// slow requests can only until the server's timeouts end them.
type connLimiter struct {
	net.Listener
	slots      chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
	becameIdle chan struct{} // a connection went idle

	mu   sync.Mutex
	idle map[net.Conn]time.Time // idle since
}

func newConnLimiter(ln net.Listener, n int) *connLimiter {
	return &connLimiter{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{}),
		becameIdle: make(chan struct{}, 1), idle: map[net.Conn]time.Time{}}
}

// Accept takes the next connection and a slot for it: a free one, or one
// freed by closing the longest-idle connection, or the first to be freed.
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		l.closeLongestIdle()
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		case <-l.becameIdle: // close it on the next turn
		case <-l.closed:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// ConnState tracks which connections are idle; set it as the
// http.Server's ConnState.
func (l *connLimiter) ConnState(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle[c] = time.Now()
		select {
		case l.becameIdle <- struct{}{}:
		default:
		}
	} else {
		delete(l.idle, c)
	}
}

func (l *connLimiter) closeLongestIdle() {
	l.mu.Lock()
	var (
		oldest net.Conn
		since  time.Time
	)
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// grpcLimitOptions are the gRPC server options that bound one caller:
// the largest message received, the header list, concurrent streams per
// connection, the handshake time, the time to send a call's request, idle
// connections and keepalive pings.
func grpcLimitOptions(l config.Limits) []grpc.ServerOption {
	return append(server.RequestTimeoutOptions(time.Duration(l.GRPC.RequestTimeout)),
		grpc.MaxRecvMsgSize(int(l.MaxRequestSize)),
		grpc.MaxHeaderListSize(uint32(l.MaxHeaderSize)),
		grpc.MaxConcurrentStreams(uint32(l.GRPC.MaxConcurrentStreams)),
		grpc.ConnectionTimeout(time.Duration(l.HeaderTimeout)),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: time.Duration(l.GRPC.MaxConnectionIdle),
			Time:              grpcKeepaliveTime,
			Timeout:           grpcKeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Duration(l.GRPC.KeepaliveMinTime),
			PermitWithoutStream: true,
		}),
	)
}
