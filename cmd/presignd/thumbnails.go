package main

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/events"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/thumbnail"
)

// thumbnailRoute is the name the thumbnail worker's deliveries carry in
// the outbox.
const thumbnailRoute = "internal:thumbnails"

// thumbnailRoutes returns the dispatcher route of the thumbnail worker,
// fed the file.ready events of the categories with thumbnails; none when
// no category has them. A category whose backend cannot read and write
// objects is an error.
func thumbnailRoutes(cfg *config.Config, st store.Store, signers map[string]signer.Signer,
	caps map[string]signer.Capabilities, reg prometheus.Registerer, log *slog.Logger) ([]events.Route, error) {
	specs := map[string]thumbnail.Spec{}
	backends := map[string]thumbnail.Backend{}
	for name, cat := range cfg.Categories {
		if !cat.Thumbnails.Enabled() {
			continue
		}
		c := caps[cat.Backend]
		if c.Reader == nil || c.Writer == nil {
			return nil, fmt.Errorf("categories.%s.thumbnails: backend %q cannot read and write objects", name, cat.Backend)
		}
		specs[name] = cat.Thumbnails.Spec()
		backends[cat.Backend] = thumbnail.Backend{Reader: c.Reader, Writer: c.Writer, Signer: signers[cat.Backend]}
	}
	if len(specs) == 0 {
		return nil, nil
	}
	w, err := thumbnail.NewWorker(thumbnail.WorkerConfig{
		Files: st, Backends: backends, Specs: specs,
		Logger: log.With("component", "thumbnails"), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	cats := w.Categories()
	slices.Sort(cats)
	log.Info("thumbnails on", "categories", cats)
	return []events.Route{{Name: thumbnailRoute, Sink: w,
		Filter: events.Filter{Categories: cats, Types: []string{store.EventFileReady}}}}, nil
}
