package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/sweeper"
)

// startSweeper starts the background sweeper as cfg.Sweeper says, with its
// counters on reg, over st (whose watched keys it checks when storeCaps
// has KeyWatch) and backends (timed by their instrumented signers; those
// whose backendCaps have Leftovers also remove them; those with Multipart
// abort the multipart uploads of the deletions, and those with
// MultipartLister also the uploads older than orphanAge that no PENDING
// file holds), and returns the function that stops it and waits for the
// sweep in progress to end. Before it expires an upload it asks completer
// (the server) whether the bytes arrived. retention are the categories'
// retention periods (retentionPeriods). A zero interval starts nothing.
func startSweeper(ctx context.Context, cfg config.Sweeper, orphanAge time.Duration, retention map[string]time.Duration, st store.Store, storeCaps store.Capabilities,
	backends map[string]signer.Signer, backendCaps map[string]signer.Capabilities, completer sweeper.Completer,
	reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	interval := time.Duration(*cfg.Interval)
	if interval <= 0 {
		log.Info("sweeper disabled (sweeper.interval is 0)")
		return func() {}, nil
	}
	bs := make(map[string]sweeper.Backend, len(backends))
	for name, b := range backends {
		bs[name] = b
	}
	leftovers := map[string]signer.LeftoverRemover{}
	multipart := map[string]signer.MultipartUploader{}
	listers := map[string]signer.MultipartLister{}
	for name, c := range backendCaps {
		if c.Leftovers != nil {
			leftovers[name] = c.Leftovers
		}
		if c.Multipart != nil {
			multipart[name] = c.Multipart
			if c.MultipartLister != nil {
				listers[name] = c.MultipartLister
			}
		}
	}
	sw, err := sweeper.New(sweeper.Config{
		Store: st, Completer: completer, KeyWatch: storeCaps.KeyWatch, Backends: bs, Leftovers: leftovers,
		Multipart: multipart, MultipartListers: listers, OrphanAge: orphanAge, Interval: interval, BatchSize: cfg.BatchSize,
		Grace: time.Duration(*cfg.Grace), CheckEvery: time.Duration(*cfg.CheckEvery),
		Retention: retention, Logger: log.With("component", "sweeper"), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { sw.Run(ctx) })
	log.Info("sweeper started", "interval", interval, "batch_size", cfg.BatchSize, "multipart_orphan_age", orphanAge)
	return func() { cancel(); wg.Wait() }, nil
}

// retentionPeriods are the retention periods of the categories that set
// one, by category.
func retentionPeriods(cfg *config.Config) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, c := range cfg.Categories {
		if d := time.Duration(c.Retention); d > 0 {
			out[name] = d
		}
	}
	return out
}

// multipartOrphanAge is how old a multipart upload that no PENDING file
// holds must be before the sweeper aborts it: the longest multipart
// upload_ttl of any category, plus an hour, so that no upload a record
// may still complete, nor one whose record is being written, is taken.
func multipartOrphanAge(cfg *config.Config) time.Duration {
	longest := policy.DefaultMultipartUploadTTL
	for _, c := range cfg.Categories {
		longest = max(longest, time.Duration(c.Multipart.UploadTTL))
	}
	return longest + time.Hour
}

// localMultipartMaxIdle is how long the local backend keeps the parts of a
// multipart upload that receives none: at least as long as a record may
// still complete it (multipartOrphanAge), however long it stays idle.
func localMultipartMaxIdle(cfg *config.Config) time.Duration {
	return max(local.DefaultMultipartMaxIdle, multipartOrphanAge(cfg))
}
