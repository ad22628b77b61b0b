package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/events"
	"github.com/presignd/presignd/scanner"
	"github.com/presignd/presignd/scanner/clamd"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// scanRoutes returns the dispatcher route of the malware scanner, "scan",
// which takes every file.scanning event, when a category scans; none
// otherwise. Each backend of a scanning category must read objects back
// (and, with on_infected quarantine, write them). A clamd that does not
// answer now is a warning, not an error: files wait SCANNING until it
// does.
func scanRoutes(ctx context.Context, cfg *config.Config, files scanner.Files, signers map[string]signer.Signer,
	caps map[string]signer.Capabilities, reg prometheus.Registerer, log *slog.Logger) ([]events.Route, error) {
	cats := cfg.ScanningCategories()
	if len(cats) == 0 {
		return nil, nil
	}
	client, err := clamd.New(clamd.Config{Address: cfg.Scan.Clamd, Timeout: time.Duration(cfg.Scan.Timeout)})
	if err != nil {
		return nil, fmt.Errorf("scan.clamd: %w", err)
	}
	quarantine := cfg.Scan.OnInfected == config.OnInfectedQuarantine
	backends := make(map[string]scanner.Backend)
	for _, name := range cats {
		b := cfg.Categories[name].Backend
		c := caps[b]
		if c.Reader == nil {
			return nil, fmt.Errorf("categories.%s.scan: backend %q cannot read objects back", name, b)
		}
		if quarantine && c.Writer == nil {
			return nil, fmt.Errorf("scan.on_infected: backend %q of category %s cannot write the quarantined copies", b, name)
		}
		backends[b] = scanner.Backend{Signer: signers[b], Reader: c.Reader, Writer: c.Writer}
	}
	w, err := scanner.NewWorker(scanner.WorkerConfig{
		Scanner: client, Files: files, Backends: backends,
		Quarantine: quarantine, QuarantinePrefix: cfg.Scan.QuarantinePrefix,
		Logger: log.With("component", "scanner"), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx); err != nil {
		log.Warn("clamd does not answer yet: uploads of scanning categories wait SCANNING until it does", "clamd", cfg.Scan.Clamd, "err", err)
	} else {
		log.Info("malware scanning on", "clamd", cfg.Scan.Clamd, "categories", cats, "on_infected", cfg.Scan.OnInfected)
	}
	// A delivery reads, scans and, when infected, moves the object: twice
	// the scan's own bound.
	return []events.Route{{Name: "scan", Sink: w, Filter: events.Filter{Types: []string{store.EventFileScanning}},
		Timeout: 2 * time.Duration(cfg.Scan.Timeout)}}, nil
}
