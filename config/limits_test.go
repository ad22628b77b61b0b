package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	defaults := Limits{
		MaxRequestSize: 4 << 20, MaxHeaderSize: 64 << 10, HeaderTimeout: Duration(10 * time.Second),
		HTTP: HTTPLimits{ReadTimeout: Duration(30 * time.Second), WriteTimeout: Duration(30 * time.Second),
			IdleTimeout: Duration(time.Minute), TransferIdleTimeout: Duration(time.Minute)},
		GRPC: GRPCLimits{MaxConcurrentStreams: 100, MaxConnectionIdle: Duration(5 * time.Minute), KeepaliveMinTime: Duration(10 * time.Second),
			RequestTimeout: Duration(30 * time.Second)},
	}
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		want    func(*Limits) // applied to defaults; nil when an error is wanted
		wantErr string
	}{
		{name: "the defaults match grpc-go's 4MiB message limit", want: func(*Limits) {}},
		{name: "the file sets sizes and timeouts", yaml: "limits: {max_request_size: 1MiB, max_connections: 500, http: {read_timeout: 5s}, grpc: {max_concurrent_streams: 20}}\n",
			want: func(l *Limits) {
				l.MaxRequestSize, l.MaxConnections, l.HTTP.ReadTimeout, l.GRPC.MaxConcurrentStreams = 1<<20, 500, Duration(5*time.Second), 20
			}},
		{name: "a variable sets a nested timeout", env: map[string]string{"PRESIGND_LIMITS_HTTP_IDLE_TIMEOUT": "3s", "PRESIGND_LIMITS_MAX_REQUEST_SIZE": "64KiB"},
			want: func(l *Limits) { l.HTTP.IdleTimeout, l.MaxRequestSize = Duration(3*time.Second), 64<<10 }},
		{name: "a request size under 1KiB", yaml: "limits: {max_request_size: 100B}\n", wantErr: "limits.max_request_size"},
		{name: "a header size over 16MiB", yaml: "limits: {max_header_size: 1GiB}\n", wantErr: "limits.max_header_size"},
		{name: "negative connections", yaml: "limits: {max_connections: -1}\n", wantErr: "limits.max_connections"},
		{name: "a negative timeout", yaml: "limits: {http: {write_timeout: -1s}}\n", wantErr: "limits.http.write_timeout"},
		{name: "streams out of range", env: map[string]string{"PRESIGND_LIMITS_GRPC_MAX_CONCURRENT_STREAMS": "-5"}, wantErr: "limits.grpc.max_concurrent_streams (PRESIGND_LIMITS_GRPC_MAX_CONCURRENT_STREAMS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }}
			if tt.yaml != "" {
				src.File = writeFile(t, tt.yaml)
			}
			c, err := Build(src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if c.Limits != want {
				t.Errorf("limits = %+v, want %+v", c.Limits, want)
			}
		})
	}
}
