package config

import "time"

// Limits bound what a caller can make the server hold: request sizes,
// connections, streams and how long a connection may sit idle or trickle.
// Zero values take the defaults.
type Limits struct {
	// MaxRequestSize caps a REST request body and a received gRPC message
	// (4MiB, grpc-go's own default). A larger REST body is refused with
	// 413 before it is read; a larger gRPC message with RESOURCE_EXHAUSTED.
	// The local backend's upload route is not capped by it (its limit is
	// the category's max_size).
	MaxRequestSize ByteSize `yaml:"max_request_size"`
	// MaxHeaderSize caps the request headers of an HTTP request and the
	// header list of a gRPC stream (64KiB).
	MaxHeaderSize ByteSize `yaml:"max_header_size"`
	// MaxConnections caps open connections per listener (HTTP, gRPC);
	// connections beyond it wait in the kernel's accept queue. 0 takes
	// min(10000, (open-file limit - 256) / 2), so that both listeners
	// together stay below the process's file descriptor limit.
	MaxConnections int `yaml:"max_connections"`
	// HeaderTimeout is how long a new connection may take to send its
	// request headers (HTTP) or its HTTP/2 preface (gRPC) (10s).
	HeaderTimeout Duration `yaml:"header_timeout"`
	// HTTP bounds the HTTP port.
	HTTP HTTPLimits `yaml:"http"`
	// GRPC bounds the gRPC port.
	GRPC GRPCLimits `yaml:"grpc"`
}

// HTTPLimits bound connections on the HTTP port.
type HTTPLimits struct {
	// ReadTimeout is how long an API request (headers and body) may take
	// to arrive (30s).
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout is how long an API response may take, from the end of
	// the request headers (30s).
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long (60s).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// TransferIdleTimeout replaces the read and write timeouts on the
	// local backend's upload and download route, whose bodies may be
	// gigabytes: a transfer is cut off once no byte has moved for this long
	// (60s).
	TransferIdleTimeout Duration `yaml:"transfer_idle_timeout"`
}

// GRPCLimits bound connections and streams on the gRPC port.
type GRPCLimits struct {
	// MaxConcurrentStreams caps the calls in progress on one connection
	// (100); further streams are refused until one ends.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// MaxConnectionIdle closes a connection that has had no call in
	// progress for this long (5m).
	MaxConnectionIdle Duration `yaml:"max_connection_idle"`
	// KeepaliveMinTime is how often a client may ping at most; one that
	// pings more often is disconnected (10s).
	KeepaliveMinTime Duration `yaml:"keepalive_min_time"`
	// RequestTimeout cancels a call whose first message has not arrived
	// this long after its headers (30s).
	RequestTimeout Duration `yaml:"request_timeout"`
}

// Default limits.
const (
	DefaultMaxRequestSize ByteSize = 4 << 20
	DefaultMaxHeaderSize  ByteSize = 64 << 10
)

func (l *Limits) applyDefaults() {
	setSize := func(v *ByteSize, d ByteSize) {
		if *v == 0 {
			*v = d
		}
	}
	setDuration := func(v *Duration, d time.Duration) {
		if *v == 0 {
			*v = Duration(d)
		}
	}
	setSize(&l.MaxRequestSize, DefaultMaxRequestSize)
	setSize(&l.MaxHeaderSize, DefaultMaxHeaderSize)
	setDuration(&l.HeaderTimeout, 10*time.Second)
	setDuration(&l.HTTP.ReadTimeout, 30*time.Second)
	setDuration(&l.HTTP.WriteTimeout, 30*time.Second)
	setDuration(&l.HTTP.IdleTimeout, time.Minute)
	setDuration(&l.HTTP.TransferIdleTimeout, time.Minute)
	if l.GRPC.MaxConcurrentStreams == 0 {
		l.GRPC.MaxConcurrentStreams = 100
	}
	setDuration(&l.GRPC.MaxConnectionIdle, 5*time.Minute)
	setDuration(&l.GRPC.KeepaliveMinTime, 10*time.Second)
	setDuration(&l.GRPC.RequestTimeout, 30*time.Second)
}

func (l *Limits) validate(add func(key, format string, args ...any)) {
	if l.MaxRequestSize < 1<<10 || l.MaxRequestSize > 1<<30 {
		add("limits.max_request_size", "must be between 1KiB and 1GiB, not %d bytes", l.MaxRequestSize)
	}
	if l.MaxHeaderSize < 4<<10 || l.MaxHeaderSize > 16<<20 {
		add("limits.max_header_size", "must be between 4KiB and 16MiB, not %d bytes", l.MaxHeaderSize)
	}
	if l.MaxConnections < 0 {
		add("limits.max_connections", "must not be negative")
	}
	if l.GRPC.MaxConcurrentStreams < 1 || l.GRPC.MaxConcurrentStreams > 1<<20 {
		add("limits.grpc.max_concurrent_streams", "must be between 1 and 1048576, not %d", l.GRPC.MaxConcurrentStreams)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"limits.header_timeout", l.HeaderTimeout},
		{"limits.http.read_timeout", l.HTTP.ReadTimeout},
		{"limits.http.write_timeout", l.HTTP.WriteTimeout},
		{"limits.http.idle_timeout", l.HTTP.IdleTimeout},
		{"limits.http.transfer_idle_timeout", l.HTTP.TransferIdleTimeout},
		{"limits.grpc.max_connection_idle", l.GRPC.MaxConnectionIdle},
		{"limits.grpc.keepalive_min_time", l.GRPC.KeepaliveMinTime},
		{"limits.grpc.request_timeout", l.GRPC.RequestTimeout},
	} {
		if d.v < 0 {
			add(d.key, "must not be negative")
		}
	}
}
