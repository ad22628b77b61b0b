package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Scan results kept in store.File.ScanResult besides signature names.
const (
	// ResultClean: the scanner found nothing.
	ResultClean = "clean"
	// ResultTooLarge: the bytes are over the scanner's size limit and
	// cannot be scanned; the file is quarantined rather than served
	// unscanned.
	ResultTooLarge = "unscanned: over the scanner's size limit"
)

// Files is what the Worker needs of the store.
type Files interface {
	GetFile(ctx context.Context, tenant, id string) (*store.File, error)
	UpdateFile(ctx context.Context, tenant, id string, update func(*store.File) error) (*store.File, error)
}

// Backend is a backend's signer and the capabilities the Worker uses.
type Backend struct {
	Signer signer.Signer
	// Reader reads the objects to scan; required.
	Reader signer.ObjectReader
	// Writer stores quarantined copies; required with Quarantine.
	Writer signer.ObjectWriter
}

// WorkerConfig configures NewWorker.
type WorkerConfig struct {
	Scanner  Scanner
	Files    Files
	Backends map[string]Backend
	// Quarantine moves an infected object under QuarantinePrefix (a read
	// and a write, then a delete) instead of deleting it.
	Quarantine       bool
	QuarantinePrefix string
	Logger           *slog.Logger
	// Registerer, when set, receives the Worker's metrics.
	Registerer prometheus.Registerer
}

// Worker scans the files of file.scanning events. It is an events.Sink:
// Deliver returning an error makes the dispatcher try the event again
// later, so a scanner that is down delays files, and never loses them.
type Worker struct {
	cfg      WorkerConfig
	scans    *prometheus.CounterVec
	duration prometheus.Histogram
	errors   *prometheus.CounterVec
}

// NewWorker checks cfg and returns a Worker. It fails without a scanner
// or store, with a backend that cannot read objects, or, with
// Quarantine, one that cannot write them.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Scanner == nil || cfg.Files == nil {
		return nil, errors.New("scanner: no scanner or no store")
	}
	for name, b := range cfg.Backends {
		if b.Signer == nil || b.Reader == nil {
			return nil, fmt.Errorf("scanner: backend %q cannot read objects back", name)
		}
		if cfg.Quarantine && b.Writer == nil {
			return nil, fmt.Errorf("scanner: backend %q cannot write the quarantined copies", name)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Worker{
		cfg: cfg,
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "scan", Name: "files_total",
			Help: "Files this replica scanned, by result: clean, infected or too_large.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "presignd", Subsystem: "scan", Name: "duration_seconds",
			Help:    "Time to read and scan one file, whatever the outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "scan", Name: "errors_total",
			Help: "Scan attempts that failed and will be retried, by stage: read (storage), scan (the scanner), dispose (deleting or moving an infected object), store.",
		}, []string{"stage"}),
	}
	for _, r := range []string{"clean", "infected", "too_large"} {
		w.scans.WithLabelValues(r)
	}
	for _, s := range []string{"read", "scan", "dispose", "store"} {
		w.errors.WithLabelValues(s)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.scans, w.duration, w.errors} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("scanner: register metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Deliver scans the file of a file.scanning event and records the
// outcome: READY with ScanResult "clean", or QUARANTINED with the
// signature (ResultTooLarge when the scanner cannot take the bytes) and
// the object deleted or moved. Another event type, a file that is gone,
// or one that is no longer SCANNING or QUARANTINED is nothing to do. It
// is safe to repeat: a repeated event finds the file READY (nothing to
// do) or QUARANTINED (the object is disposed of again, a no-op once it
// is gone). An error (storage, scanner or store unavailable) leaves the
// file as it was, for the event to be tried again.
func (w *Worker) Deliver(ctx context.Context, ev *store.Event) error {
	if ev.Type != store.EventFileScanning {
		return nil
	}
	f, err := w.cfg.Files.GetFile(ctx, ev.Tenant, ev.FileID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		w.errors.WithLabelValues("store").Inc()
		return fmt.Errorf("get file %s: %w", ev.FileID, err)
	}
	log := w.cfg.Logger.With("tenant", f.Tenant, "file_id", f.ID, "backend", f.Backend, "key", f.Key)
	switch f.State {
	case store.StateScanning:
	case store.StateQuarantined:
		return w.dispose(ctx, f, log)
	default:
		return nil
	}
	b, ok := w.cfg.Backends[f.Backend]
	if !ok {
		return fmt.Errorf("file %s: backend %q does not read objects back", f.ID, f.Backend)
	}
	start := time.Now()
	sig, err := w.scan(ctx, b, f)
	w.duration.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, ErrTooLarge):
		sig = ResultTooLarge
		w.scans.WithLabelValues("too_large").Inc()
	case err != nil:
		log.Warn("scan failed, will retry", "err", err)
		return err
	case sig == "":
		w.scans.WithLabelValues("clean").Inc()
	default:
		w.scans.WithLabelValues("infected").Inc()
	}
	to, result := store.StateQuarantined, sig
	if sig == "" {
		to, result = store.StateReady, ResultClean
	}
	updated, err := w.cfg.Files.UpdateFile(ctx, f.Tenant, f.ID, func(cur *store.File) error {
		if cur.State != store.StateScanning {
			return errNotScanning
		}
		cur.State, cur.ScanResult = to, result
		return nil
	})
	switch {
	case errors.Is(err, errNotScanning), errors.Is(err, store.ErrNotFound):
		return nil // deleted or settled meanwhile
	case err != nil:
		w.errors.WithLabelValues("store").Inc()
		return fmt.Errorf("record the scan of file %s: %w", f.ID, err)
	}
	if to == store.StateReady {
		log.Debug("scanned clean")
		return nil
	}
	log.Warn("malware found: file quarantined", "signature", result)
	return w.dispose(ctx, updated, log)
}

var errNotScanning = errors.New("file is no longer SCANNING")

// scan streams f's object to the scanner.
func (w *Worker) scan(ctx context.Context, b Backend, f *store.File) (string, error) {
	body, err := b.Reader.ReadObject(ctx, f.Key, 0, -1)
	if err != nil {
		w.errors.WithLabelValues("read").Inc()
		return "", fmt.Errorf("read %s: %w", f.Key, err)
	}
	defer body.Close()
	sig, err := w.cfg.Scanner.Scan(ctx, body)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		w.errors.WithLabelValues("scan").Inc()
	}
	return sig, err
}

// dispose deletes a QUARANTINED file's object, or moves it under the
// quarantine prefix; an object already gone is disposed of.
func (w *Worker) dispose(ctx context.Context, f *store.File, log *slog.Logger) error {
	b, ok := w.cfg.Backends[f.Backend]
	if !ok {
		return fmt.Errorf("file %s: backend %q is not configured for scanning", f.ID, f.Backend)
	}
	if w.cfg.Quarantine {
		to := w.cfg.QuarantinePrefix + f.Key
		body, err := b.Reader.ReadObject(ctx, f.Key, 0, -1)
		switch {
		case errors.Is(err, signer.ErrNotFound):
			return nil // moved already
		case err != nil:
			w.errors.WithLabelValues("dispose").Inc()
			return fmt.Errorf("quarantine %s: read: %w", f.Key, err)
		}
		err = b.Writer.WriteObject(ctx, to, body, f.SizeBytes, f.ContentType)
		body.Close()
		if err != nil {
			w.errors.WithLabelValues("dispose").Inc()
			return fmt.Errorf("quarantine %s: write %s: %w", f.Key, to, err)
		}
		log = log.With("quarantined_to", to)
	}
	if err := b.Signer.Delete(ctx, f.Key); err != nil {
		w.errors.WithLabelValues("dispose").Inc()
		return fmt.Errorf("delete infected object %s: %w", f.Key, err)
	}
	log.Info("infected object removed from its key")
	return nil
}
