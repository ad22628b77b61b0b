package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Files is what the worker needs of the store.
type Files interface {
	GetFile(ctx context.Context, tenant, id string) (*store.File, error)
	SetThumbnails(ctx context.Context, tenant, id string, thumbs []store.Thumbnail) error
}

// Backend is what the worker needs of a backend: reading a file's object,
// writing its thumbnails, and deleting those it wrote for a file that went
// away meanwhile.
type Backend struct {
	Reader signer.ObjectReader
	Writer signer.ObjectWriter
	Signer signer.Signer
}

// WorkerConfig configures NewWorker.
type WorkerConfig struct {
	Files Files
	// Backends are the backends of the categories in Specs, by name.
	Backends map[string]Backend
	// Specs are the categories that make thumbnails, by name. Each must
	// name at least one size.
	Specs map[string]Spec
	// Concurrency is how many images are decoded at once (1): each holds
	// up to about 4 bytes per pixel of its spec's MaxPixels.
	Concurrency int
	Logger      *slog.Logger
	// Registerer, when set, receives the worker's metrics.
	Registerer prometheus.Registerer
}

// Worker makes the thumbnails of READY files. It is an events.Sink of
// file.ready events: Deliver returns an error only for what a retry may
// fix (a backend or the store unavailable), so the dispatcher retries it
// with backoff; an object that is not an image it can read, or exceeds its
// category's limits, gets no thumbnails, and its event is done.
type Worker struct {
	cfg   WorkerConfig
	sem   chan struct{}
	made  *prometheus.CounterVec
	fails *prometheus.CounterVec
	took  prometheus.Histogram
}

// Failure reasons of the presignd_thumbnail_failures_total metric.
const (
	// ReasonRefused: not a supported image, or over the limits; not
	// retried.
	ReasonRefused = "refused"
	// ReasonError: reading, writing or recording failed; retried.
	ReasonError = "error"
)

// NewWorker checks cfg and returns a Worker. It fails on a spec without
// sizes, a category whose backend cannot read or write objects, and when
// the metrics cannot be registered.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Files == nil {
		return nil, errors.New("thumbnail: no store")
	}
	for cat, spec := range cfg.Specs {
		if len(spec.Sizes) == 0 {
			return nil, fmt.Errorf("thumbnail: category %q has no sizes", cat)
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Worker{
		cfg: cfg,
		sem: make(chan struct{}, cfg.Concurrency),
		made: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Name: "thumbnails_generated_total",
			Help: "Thumbnails made and recorded, by category.",
		}, []string{"category"}),
		fails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Name: "thumbnail_failures_total",
			Help: "Files whose thumbnails could not be made, by category and reason: refused (not a supported image, or over the limits; not retried) or error (retried).",
		}, []string{"category", "reason"}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "presignd", Name: "thumbnail_duration_seconds",
			Help:    "Time to read, decode, scale, encode and store one file's thumbnails.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for cat := range cfg.Specs {
		w.made.WithLabelValues(cat)
		w.fails.WithLabelValues(cat, ReasonRefused)
		w.fails.WithLabelValues(cat, ReasonError)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.made, w.fails, w.took} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("thumbnail: register metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Categories lists the categories the worker makes thumbnails for: the
// filter of its route.
func (w *Worker) Categories() []string {
	out := make([]string, 0, len(w.cfg.Specs))
	for cat := range w.cfg.Specs {
		out = append(out, cat)
	}
	return out
}

// Key is the object key of the thumbnail name of the object key, in
// format: "<key>~thumbs/<name>.<jpg|png>". Key templates render only
// letters, digits and "/._-", so no client's object can have such a key.
func Key(key, name, format string) string {
	return key + "~thumbs/" + name + "." + Extension(format)
}

// Deliver makes the thumbnails of the file of ev, a file.ready event, and
// records them on it. Events of other types or categories, files gone or
// no longer READY, and files that already have thumbnails are done at
// once (a replayed event makes nothing twice).
func (w *Worker) Deliver(ctx context.Context, ev *store.Event) error {
	spec, ok := w.cfg.Specs[ev.Category]
	if !ok || ev.Type != store.EventFileReady {
		return nil
	}
	f, err := w.cfg.Files.GetFile(ctx, ev.Tenant, ev.FileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return w.failed(ev.Category, fmt.Errorf("read file %s: %w", ev.FileID, err))
	}
	if f.State != store.StateReady || len(f.Thumbnails) > 0 {
		return nil
	}
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()
	start := time.Now()
	err = w.make(ctx, f, spec)
	w.took.Observe(time.Since(start).Seconds())
	if errors.Is(err, ErrRefused) {
		w.fails.WithLabelValues(ev.Category, ReasonRefused).Inc()
		w.cfg.Logger.Warn("no thumbnails: the object is refused", "file_id", f.ID, "tenant", f.Tenant, "category", f.Category, "err", err)
		return nil
	}
	if err != nil {
		return w.failed(ev.Category, err)
	}
	return nil
}

func (w *Worker) failed(category string, err error) error {
	w.fails.WithLabelValues(category, ReasonError).Inc()
	return err
}

// make renders f's thumbnails, writes them and records them.
func (w *Worker) make(ctx context.Context, f *store.File, spec Spec) error {
	b, ok := w.cfg.Backends[f.Backend]
	if !ok || b.Reader == nil || b.Writer == nil {
		return fmt.Errorf("thumbnails of file %s: backend %q cannot read and write objects: %w", f.ID, f.Backend, signer.ErrUnsupported)
	}
	spec = spec.withDefaults()
	if f.SizeBytes > spec.MaxBytes {
		return fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrRefused, f.SizeBytes, spec.MaxBytes)
	}
	body, err := b.Reader.ReadObject(ctx, f.Key, 0, spec.MaxBytes+1)
	if errors.Is(err, signer.ErrNotFound) {
		w.cfg.Logger.Warn("no thumbnails: the object is gone", "file_id", f.ID, "tenant", f.Tenant, "key", f.Key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read object of file %s: %w", f.ID, err)
	}
	imgs, err := Render(body, spec)
	body.Close()
	if err != nil {
		return fmt.Errorf("thumbnails of file %s: %w", f.ID, err)
	}
	thumbs := make([]store.Thumbnail, 0, len(imgs))
	for _, img := range imgs {
		key := Key(f.Key, img.Name, spec.Format)
		if err := signer.ValidateKey(key); err != nil {
			return fmt.Errorf("%w: thumbnail key of %q: %v", ErrRefused, f.Key, err)
		}
		if err := b.Writer.WriteObject(ctx, key, bytes.NewReader(img.Data), int64(len(img.Data)), img.ContentType); err != nil {
			return fmt.Errorf("write thumbnail %s: %w", key, err)
		}
		thumbs = append(thumbs, store.Thumbnail{Name: img.Name, Key: key, ContentType: img.ContentType,
			Width: int32(img.Width), Height: int32(img.Height), SizeBytes: int64(len(img.Data))})
	}
	err = w.cfg.Files.SetThumbnails(ctx, f.Tenant, f.ID, thumbs)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		// The file was deleted (or left READY) while its thumbnails were
		// made: nothing will delete them but this.
		for _, t := range thumbs {
			if b.Signer == nil {
				break
			}
			if err := b.Signer.Delete(ctx, t.Key); err != nil && !errors.Is(err, signer.ErrNotFound) {
				w.cfg.Logger.Warn("delete thumbnail of a file gone", "file_id", f.ID, "key", t.Key, "err", err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record thumbnails of file %s: %w", f.ID, err)
	}
	w.made.WithLabelValues(f.Category).Add(float64(len(thumbs)))
	w.cfg.Logger.Info("thumbnails made", "file_id", f.ID, "tenant", f.Tenant, "category", f.Category, "count", len(thumbs))
	return nil
}
