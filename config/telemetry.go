package config

import (
	"net/url"
	"strings"
)

// Telemetry configures tracing. It is off unless otlp_endpoint (or the
// standard OTEL_EXPORTER_OTLP_ENDPOINT variable) names a collector.
type Telemetry struct {
	// OTLPEndpoint is an OTLP/gRPC collector: host:port, or a URL
	// (http://host:4317 is sent without TLS).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// OTLPInsecure sends to a host:port endpoint without TLS.
	OTLPInsecure bool `yaml:"otlp_insecure"`
	// SampleRatio is the share of new traces recorded, in (0, 1] (1).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans ("presignd").
	ServiceName string `yaml:"service_name"`
}

// validateTelemetry checks the telemetry section and debug_addr.
func (c *Config) validateTelemetry(add func(key, format string, args ...any)) {
	t := c.Telemetry
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		add("telemetry.sample_ratio", "must be between 0 and 1, not %v", t.SampleRatio)
	}
	if e := t.OTLPEndpoint; e != "" {
		if strings.Contains(e, "://") {
			u, err := url.Parse(e)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				add("telemetry.otlp_endpoint", "%q is neither host:port nor an http(s) URL", e)
			}
		} else if !strings.Contains(e, ":") {
			add("telemetry.otlp_endpoint", "%q is neither host:port nor an http(s) URL", e)
		}
	}
	if c.DebugAddr != "" && !strings.Contains(c.DebugAddr, ":") {
		add("debug_addr", "%q is not a host:port address", c.DebugAddr)
	}
}
