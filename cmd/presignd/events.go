package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/events"
	"github.com/presignd/presignd/store"
)

// startDispatcher starts the event dispatcher as cfg says, over the
// store's outbox, with presignd's own routes (the malware scanner's and the
// thumbnail worker's), and,
// when events are on, a route per webhook and one for NATS when its url
// is set, its metrics on reg, and render for the file records of the
// payloads; it returns the function that stops it, waits for the
// deliveries in progress and closes the NATS connection. The own routes
// (the scan and thumbnail workers) are added whether events are on or
// not; with events off and no own route it starts nothing (the store then
// writes no events either: config.NeedsOutbox).
func startDispatcher(ctx context.Context, cfg config.Events, own []events.Route, ob store.Outbox, render events.RenderFile,
	reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	if !cfg.Enabled && len(own) == 0 {
		return func() {}, nil
	}
	// The own routes run whether events are on or not; the configured
	// sinks only when they are.
	if !cfg.Enabled {
		cfg.Webhooks, cfg.NATS.URL = nil, ""
	}
	secrets, err := cfg.WebhookSecrets(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	routes := slices.Clone(own)
	for _, w := range cfg.Webhooks {
		sink, err := events.NewWebhook(events.WebhookConfig{URL: w.URL, Secret: secrets[w.Name], Render: render})
		if err != nil {
			return nil, fmt.Errorf("events.webhooks %s: %w", w.Name, err)
		}
		routes = append(routes, events.Route{Name: "webhook:" + w.Name, Sink: sink,
			Filter: events.Filter{Tenants: w.Tenants, Categories: w.Categories, Types: w.Types}})
	}
	var nc *events.NATS
	if cfg.Enabled && cfg.NATS.URL != "" {
		nc, err = events.NewNATS(events.NATSConfig{URL: cfg.NATS.URL, Stream: cfg.NATS.Stream, SubjectPrefix: cfg.NATS.SubjectPrefix, Render: render})
		if err != nil {
			return nil, fmt.Errorf("events.nats: %w", err)
		}
		routes = append(routes, events.Route{Name: "nats", Sink: nc})
	}
	d, err := events.New(events.Config{
		Outbox: ob, Routes: routes,
		Retry: events.Retry{Initial: time.Duration(cfg.Retry.Initial), Max: time.Duration(cfg.Retry.Max),
			GiveUpAfter: time.Duration(cfg.Retry.GiveUpAfter)},
		Workers: cfg.Workers, Batch: cfg.Batch, Timeout: time.Duration(cfg.Timeout),
		Interval: time.Duration(cfg.Interval), Keep: time.Duration(cfg.Keep),
		Logger: log.With("component", "events"), Registerer: reg,
	})
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	names := make([]string, 0, len(routes))
	for _, r := range routes {
		names = append(names, r.Name)
	}
	log.Info("event dispatcher started", "sinks", names, "workers", cfg.Workers, "interval", time.Duration(cfg.Interval))
	return func() {
		cancel()
		wg.Wait()
		if nc != nil {
			nc.Close()
		}
	}, nil
}
