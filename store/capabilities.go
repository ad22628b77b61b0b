package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/internal/capability"
)

// MetricsExporter is an optional capability of a store that exports
// Prometheus metrics about itself (its connections, its commits). The
// collector is registered once, at start.
type MetricsExporter interface {
	Collector() prometheus.Collector
}

// Capabilities are the optional capabilities of a Store, beyond the Store
// contract every driver meets. Each field is the store itself, seen
// through that capability's interface, or nil when the store does not
// have it. This is the one list of them: wiring code calls
// CapabilitiesOf once and hands the fields on; nothing else asks a store
// what it can do.
type Capabilities struct {
	// Anticipator groups the commits of CreateFiles that arrive together
	// (CreateAnticipator).
	Anticipator CreateAnticipator
	// KeyWatch remembers the keys of deleted and failed files until their
	// upload targets expire, for a sweeper to remove late arrivals.
	KeyWatch KeyWatch
	// Metrics exports the store's own Prometheus collector.
	Metrics MetricsExporter
}

// CapabilitiesOf discovers the optional capabilities of s. A nil s has
// none.
func CapabilitiesOf(s Store) Capabilities {
	var c Capabilities
	c.Anticipator, _ = s.(CreateAnticipator)
	c.KeyWatch, _ = s.(KeyWatch)
	c.Metrics, _ = s.(MetricsExporter)
	return c
}

// String names the capabilities present, such as
// "Anticipator KeyWatch Metrics", or "none".
func (c Capabilities) String() string {
	return capability.List(
		capability.Named{Name: "Anticipator", Has: c.Anticipator != nil},
		capability.Named{Name: "KeyWatch", Has: c.KeyWatch != nil},
		capability.Named{Name: "Metrics", Has: c.Metrics != nil},
	)
}
