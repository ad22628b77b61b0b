package main

import (
	"log/slog"
	"net"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/presignd/presignd/config"
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

// limitListener caps the connections ln holds open at n; Accept waits
// while n are open, and further connections wait in the kernel's queue.
func limitListener(ln net.Listener, n int) net.Listener {
	return netutil.LimitListener(ln, n)
}

// grpcLimitOptions are the gRPC server options that bound one caller:
// the largest message received, the header list, concurrent streams per
// connection, the handshake time, idle connections and keepalive pings.
func grpcLimitOptions(l config.Limits) []grpc.ServerOption {
	return []grpc.ServerOption{
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
	}
}
