package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestScanDefaultsAndOutbox(t *testing.T) {
	c, err := Parse([]byte("scan: {clamd: '127.0.0.1:3310'}\ncategories:\n  docs: {scan: true}\n  plain: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Scan; s.OnInfected != OnInfectedDelete || s.QuarantinePrefix != "quarantine/" || time.Duration(s.Timeout) != 2*time.Minute {
		t.Errorf("scan = %+v", s)
	}
	if got := c.ScanningCategories(); len(got) != 1 || got[0] != "docs" {
		t.Errorf("ScanningCategories = %v, want [docs]", got)
	}
	if c.Events.Enabled || !c.NeedsOutbox() {
		t.Errorf("events.enabled %v, NeedsOutbox %v: want the outbox on for the scanner with events off", c.Events.Enabled, c.NeedsOutbox())
	}
	plain, err := Parse([]byte("categories:\n  plain: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.NeedsOutbox() {
		t.Error("NeedsOutbox with no scanning category and events off")
	}
}

func TestScanProblemsNameTheirKey(t *testing.T) {
	for _, c := range []struct {
		name, yaml, key, msg string
	}{
		{"a scanning category needs clamd", "categories:\n  docs: {scan: true}\n", "scan.clamd", "is required"},
		{"clamd's address must be host:port or a socket path", "scan: {clamd: 'clamd'}\n", "scan.clamd", "host:port"},
		{"on_infected is delete or quarantine", "scan: {on_infected: keep}\n", "scan.on_infected", "delete or quarantine"},
		{"the quarantine prefix is a relative folder", "scan: {quarantine_prefix: '/q/'}\n", "scan.quarantine_prefix", "relative folder"},
		{"the quarantine prefix cannot climb", "scan: {quarantine_prefix: 'a/../b/'}\n", "scan.quarantine_prefix", "relative folder"},
		{"the quarantine prefix ends in a slash", "scan: {quarantine_prefix: 'q'}\n", "scan.quarantine_prefix", "relative folder"},
		{"the timeout is bounded", "scan: {timeout: 10ms}\n", "scan.timeout", "between 1s and 1h"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse = %v, want Problems", err)
			}
			for _, p := range probs {
				if p.Key == c.key && strings.Contains(p.Message, c.msg) {
					return
				}
			}
			t.Errorf("problems %v, want %s: ...%s...", probs, c.key, c.msg)
		})
	}
}
