package config

import (
	"path"
	"strings"
	"time"

	"github.com/presignd/presignd/scanner/clamd"
)

// Scan configures the malware scanning of completed uploads, for the
// categories that set scan: true. A verified upload of such a category
// waits SCANNING (it cannot be downloaded, and counts against quotas as
// a READY file does) until clamd has read its bytes from storage: then it
// is READY, or QUARANTINED with its object deleted or moved. The scans
// run off the request path as deliveries of the file.scanning events of
// the store's outbox, so the outbox is written whenever a category scans,
// even with events.enabled off (webhooks and NATS are then still off):
// every replica takes a share, a scan that fails (clamd down) is retried
// with the backoff of events.retry, and one that fails until
// events.retry.give_up_after is a dead letter an admin redelivers.
type Scan struct {
	// Clamd is clamd's address: "host:port" (TCP) or a unix socket path
	// ("/run/clamav/clamd.ctl" or "unix:///run/clamav/clamd.ctl").
	// Required when a category scans.
	Clamd string `yaml:"clamd"`
	// OnInfected is what happens to an infected file's object: delete,
	// or quarantine (moved under quarantine_prefix, for an operator to
	// inspect; the backend must store objects presignd writes). Default
	// delete.
	OnInfected string `yaml:"on_infected"`
	// QuarantinePrefix starts the key an object is moved to with
	// on_infected quarantine, followed by its own key ("quarantine/").
	// Use a prefix no category's key_template produces.
	QuarantinePrefix string `yaml:"quarantine_prefix"`
	// Timeout bounds one scan, connection included ("2m"); a scan that
	// takes longer fails and is retried.
	Timeout Duration `yaml:"timeout"`
}

// On-infected actions.
const (
	OnInfectedDelete     = "delete"
	OnInfectedQuarantine = "quarantine"
)

// ScanningCategories returns the names of the categories that scan.
func (c *Config) ScanningCategories() []string {
	var names []string
	for name, cat := range c.Categories {
		if cat.Scan {
			names = append(names, name)
		}
	}
	return names
}

func (s *Scan) applyDefaults() {
	if s.OnInfected == "" {
		s.OnInfected = OnInfectedDelete
	}
	if s.QuarantinePrefix == "" {
		s.QuarantinePrefix = "quarantine/"
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(2 * time.Minute)
	}
}

func (c *Config) validateScan(add func(key, format string, args ...any)) {
	s := c.Scan
	scanning := len(c.ScanningCategories()) > 0
	if scanning && s.Clamd == "" {
		add("scan.clamd", "is required when a category scans (categories %s)", strings.Join(c.ScanningCategories(), ", "))
	}
	if s.Clamd != "" {
		if _, _, err := clamd.ParseAddress(s.Clamd); err != nil {
			add("scan.clamd", "%v", err)
		}
	}
	switch s.OnInfected {
	case OnInfectedDelete, OnInfectedQuarantine:
	default:
		add("scan.on_infected", "must be delete or quarantine, not %q", s.OnInfected)
	}
	p := s.QuarantinePrefix
	if strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || path.Clean(p)+"/" != p || strings.Contains(p, "..") {
		add("scan.quarantine_prefix", "must be a relative folder ending in /, such as quarantine/, not %q", p)
	}
	if d := time.Duration(s.Timeout); d < time.Second || d > time.Hour {
		add("scan.timeout", "must be between 1s and 1h, not %s", d)
	}
}
