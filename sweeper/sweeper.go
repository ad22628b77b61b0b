// Package sweeper retires what the request path leaves behind: upload
// reservations whose targets expired (marked EXPIRED, their partial or
// stray objects deleted, their quota released), objects of deleted files
// (deleted with retries until the backend confirms), READY files whose
// object vanished from storage (flagged), bytes that arrive through a
// deleted or failed file's still valid upload target (deleted, when the
// store can watch keys: Config.KeyWatch), backends' own leftovers such
// as the local backend's abandoned uploads (Config.Leftovers), and
// multipart uploads: those of expired, aborted and deleted files are
// aborted before their objects are deleted (Config.Multipart), and those
// no record knows are aborted once old enough (Config.MultipartListers).
// The wiring fills these from store.CapabilitiesOf and
// signer.CapabilitiesOf.
//
// All coordination lives in the store (store.Lifecycle): every claim is
// exclusive, so any number of replicas may sweep the same database at once
// without doing the same work twice.
package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Backend is what the sweeper needs of a storage backend.
type Backend interface {
	// Stat describes the object at key, or returns signer.ErrNotFound.
	Stat(ctx context.Context, key string) (signer.ObjectInfo, error)
	// Delete removes the object at key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// Completer completes an upload without its client.
type Completer interface {
	// CompletePending verifies f's object and records f READY or FAILED,
	// completed by by; when the bytes have not all arrived it returns f
	// unchanged, PENDING (see server.Server.CompletePending). changed
	// reports whether this call moved f out of PENDING: of several
	// callers racing on one file, only one is told it did.
	CompletePending(ctx context.Context, f *store.File, by string) (done *store.File, changed bool, err error)
}

// Config configures New.
type Config struct {
	Store store.Lifecycle
	// Completer, when set, is asked about each upload before it expires
	// (store.Lifecycle.ExpiringUploads): bytes that arrived and pass
	// verification make it READY, bytes that fail it FAILED (completed
	// by the sweeper); only an upload whose bytes are missing, or that
	// could not be looked at, is EXPIRED, and only by the sweeper that
	// looked (store.Lifecycle.ExpireUploads takes the files by id). Nil
	// expires without looking.
	Completer Completer
	// KeyWatch, when set, is the store's watch over the keys of deleted
	// and failed files (store.Capabilities.KeyWatch): each sweep deletes
	// what arrives at them. Nil when the store keeps no such watch.
	KeyWatch store.KeyWatch
	// Backends are the storage backends by configured name.
	Backends map[string]Backend
	// Leftovers are the backends, by configured name, whose leftovers
	// each sweep removes (signer.Capabilities.Leftovers).
	Leftovers map[string]signer.LeftoverRemover
	// Multipart are the backends, by configured name, that take multipart
	// uploads (signer.Capabilities.Multipart). A queued deletion that
	// carries a multipart upload id has the upload aborted there, its
	// parts counted first, before the object is deleted; on a backend
	// missing here only the object is deleted.
	Multipart map[string]signer.MultipartUploader
	// MultipartListers are the backends, by configured name, that list
	// their multipart uploads (signer.Capabilities.MultipartLister); each
	// must also be in Multipart. Each sweep aborts their uploads initiated
	// more than OrphanAge ago that no PENDING file holds
	// (store.Lifecycle.HoldsMultipartUpload): uploads whose record was
	// never written.
	MultipartListers map[string]signer.MultipartLister
	// OrphanAge is how old a multipart upload no PENDING file holds must
	// be before it is aborted: longer than any category's multipart
	// upload_ttl, plus a margin (25h).
	OrphanAge time.Duration
	// Interval between sweeps in Run; it must be positive.
	Interval time.Duration
	// BatchSize is how many files or deletions one claim takes (100).
	BatchSize int
	// Grace is how long after its target expired an upload is left
	// alone, for a transfer in flight at the expiry to end (1 minute).
	Grace time.Duration
	// CheckEvery is how often each READY file's object is checked for;
	// 0 disables the checks.
	CheckEvery time.Duration
	// Lease is how long a claimed deletion is reserved for the claimer
	// before another replica may retry it (5 minutes).
	Lease time.Duration
	// MaxBatches caps the claims of each kind in one sweep (10), so that
	// a backlog is worked off over several sweeps.
	MaxBatches int
	Logger     *slog.Logger
	// Registerer, when set, receives the sweeper's counters.
	Registerer prometheus.Registerer
	// Retention are the retention periods by category: each sweep deletes
	// the READY files of such a category whose upload completed longer
	// ago (store.Lifecycle.RetainedFiles, then DeleteFileAndQueueObject,
	// which writes a file.deleted event when the store's events are on);
	// their objects are queued for deletion like a deleted file's.
	Retention map[string]time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Counts is what one sweep did.
type Counts struct {
	// Expired uploads marked EXPIRED.
	Expired int
	// Retained are READY files deleted because their category's
	// retention period ran out.
	Retained int
	// Completed uploads the Completer made READY, and Rejected those it
	// made FAILED, instead of expiring them.
	Completed, Rejected int
	// ObjectsDeleted by reason (store.DeletionExpired, store.DeletionDeleted,
	// store.DeletionAborted).
	ObjectsDeleted map[string]int
	// DeleteFailures are attempts that failed and will be retried.
	DeleteFailures int
	// Checked READY files, and Missing the ones whose object is gone.
	Checked, Missing int
	// LateUploads are objects deleted from the watched key of a deleted
	// or failed file: bytes its upload target stored after the file went.
	LateUploads int
	// Leftovers are backend files removed (abandoned uploads, tombstones).
	Leftovers int
	// MultipartAborted are the multipart uploads aborted, and
	// MultipartAbortedBytes the bytes of the parts they held; Orphans
	// are those among them that no record knew.
	MultipartAborted      int
	MultipartAbortedBytes int64
	Orphans               int
}

func (c Counts) zero() bool {
	return c.Expired == 0 && c.Retained == 0 && c.Completed == 0 && c.Rejected == 0 && len(c.ObjectsDeleted) == 0 && c.DeleteFailures == 0 && c.Checked == 0 &&
		c.LateUploads == 0 && c.Leftovers == 0 && c.MultipartAborted == 0
}

// Sweeper runs sweeps. It is safe for concurrent use.
type Sweeper struct {
	cfg     Config
	metrics metrics
}

type metrics struct {
	sweeps, sweepErrors, expired, retained, deleteFailures, checked, missing prometheus.Counter
	lateUploads, leftovers                                                   prometheus.Counter
	deleted                                                                  *prometheus.CounterVec
	// completed counts the uploads the Completer completed instead of
	// expiring them, by the state they entered (READY, FAILED).
	completed *prometheus.CounterVec
	// multipartAborted and multipartAbortedBytes are by reason: that of
	// the deletion (expired, deleted, aborted), or orphan.
	multipartAborted, multipartAbortedBytes *prometheus.CounterVec
}

// New checks cfg and returns a Sweeper. It fails when the counters cannot
// be registered (for instance twice on one registry).
func New(cfg Config) (*Sweeper, error) {
	if cfg.Store == nil {
		return nil, errors.New("sweeper: no store")
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("sweeper: interval %s is not positive", cfg.Interval)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("sweeper: grace %s is negative", cfg.Grace)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.MaxBatches <= 0 {
		cfg.MaxBatches = 10
	}
	if cfg.OrphanAge <= 0 {
		cfg.OrphanAge = 25 * time.Hour
	}
	for name := range cfg.MultipartListers {
		if cfg.Multipart[name] == nil {
			return nil, fmt.Errorf("sweeper: backend %q lists multipart uploads but cannot abort them", name)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "presignd", Subsystem: "sweeper", Name: name, Help: help})
	}
	m := metrics{
		sweeps:         counter("sweeps_total", "Sweeps run."),
		sweepErrors:    counter("errors_total", "Sweeps that stopped on an error."),
		expired:        counter("uploads_expired_total", "PENDING uploads marked EXPIRED."),
		retained:       counter("files_retention_deleted_total", "READY files deleted because their category's retention period ran out."),
		deleteFailures: counter("object_delete_failures_total", "Object deletions that failed and will be retried."),
		checked:        counter("objects_checked_total", "READY files whose object was checked."),
		missing:        counter("objects_missing_total", "Checks that found a READY file's object missing."),
		lateUploads:    counter("late_uploads_deleted_total", "Objects deleted because a deleted or failed file's upload target stored them."),
		leftovers:      counter("leftovers_removed_total", "Backend leftovers removed (abandoned temporary uploads, lapsed tombstones)."),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "sweeper", Name: "objects_deleted_total",
			Help: "Objects deleted from their backends, by reason (expired, deleted, aborted).",
		}, []string{"reason"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "sweeper", Name: "uploads_completed_total",
			Help: "PENDING uploads past their expiry whose object the sweeper found and verified instead of expiring them, by the state they entered (READY, FAILED).",
		}, []string{"state"}),
		multipartAborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "sweeper", Name: "multipart_aborted_total",
			Help: "Multipart uploads aborted, by reason (expired, deleted, aborted, orphan: no record knew it).",
		}, []string{"reason"}),
		multipartAbortedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "sweeper", Name: "multipart_aborted_bytes_total",
			Help: "Bytes of the parts held by the multipart uploads aborted, by reason.",
		}, []string{"reason"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.sweeps, m.sweepErrors, m.expired, m.retained, m.deleteFailures, m.checked, m.missing,
			m.lateUploads, m.leftovers, m.deleted, m.completed, m.multipartAborted, m.multipartAbortedBytes} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("sweeper: register metrics: %w", err)
			}
		}
	}
	return &Sweeper{cfg: cfg, metrics: m}, nil
}

// Run sweeps at once and then every Interval until ctx ends. A sweep
// that fails (the store unavailable, say) is logged and the next one
// tries again.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.WarnContext(ctx, "sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs one sweep: expire uploads, delete queued objects, check
// READY objects. It returns what it did, also when it stops on an error;
// a failed object deletion is not an error (it is retried later).
func (s *Sweeper) Sweep(ctx context.Context) (Counts, error) {
	c := Counts{ObjectsDeleted: map[string]int{}}
	err := s.sweep(ctx, &c)
	s.metrics.sweeps.Inc()
	if err != nil {
		s.metrics.sweepErrors.Inc()
	}
	if len(c.ObjectsDeleted) == 0 {
		c.ObjectsDeleted = nil
	}
	level := slog.LevelInfo
	if c.zero() {
		level = slog.LevelDebug
	}
	s.cfg.Logger.Log(ctx, level, "sweep",
		"expired", c.Expired, "retained", c.Retained, "completed", c.Completed, "rejected", c.Rejected,
		"objects_deleted_expired", c.ObjectsDeleted[store.DeletionExpired],
		"objects_deleted_deleted", c.ObjectsDeleted[store.DeletionDeleted],
		"objects_deleted_aborted", c.ObjectsDeleted[store.DeletionAborted],
		"delete_failures", c.DeleteFailures,
		"checked", c.Checked, "missing", c.Missing,
		"late_uploads", c.LateUploads, "leftovers", c.Leftovers,
		"multipart_aborted", c.MultipartAborted, "multipart_aborted_bytes", c.MultipartAbortedBytes, "orphans", c.Orphans)
	return c, err
}

func (s *Sweeper) sweep(ctx context.Context, c *Counts) error {
	for range s.cfg.MaxBatches {
		more, err := s.expireBatch(ctx, c)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if err := s.deleteRetained(ctx, c); err != nil {
		return err
	}
	for range s.cfg.MaxBatches {
		now := s.cfg.Now()
		ds, err := s.cfg.Store.ClaimDeletions(ctx, now, now.Add(s.cfg.Lease), s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim deletions: %w", err)
		}
		for _, d := range ds {
			if err := s.deleteObject(ctx, d, c); err != nil {
				return err
			}
		}
		if len(ds) < s.cfg.BatchSize {
			break
		}
	}
	if err := s.watchKeys(ctx, c); err != nil {
		return err
	}
	s.removeLeftovers(ctx, c)
	if err := s.abortOrphans(ctx, c); err != nil {
		return err
	}
	if s.cfg.CheckEvery <= 0 {
		return nil
	}
	for range s.cfg.MaxBatches {
		now := s.cfg.Now()
		files, err := s.cfg.Store.ClaimObjectChecks(ctx, now.Add(-s.cfg.CheckEvery), now, s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim object checks: %w", err)
		}
		for _, f := range files {
			if err := s.checkObject(ctx, f, c); err != nil {
				return err
			}
		}
		if len(files) < s.cfg.BatchSize {
			break
		}
	}
	return nil
}

// expireBatch lists one batch of uploads past their expiry (and grace),
// asks the Completer about each, expires exactly those of them it found
// without bytes, and reports whether more may be waiting. Another
// replica may list the same uploads at once: the store expires each one
// once, and never one this sweeper did not look at.
func (s *Sweeper) expireBatch(ctx context.Context, c *Counts) (more bool, err error) {
	now := s.cfg.Now()
	expiredBefore := now.Add(-s.cfg.Grace)
	files, err := s.cfg.Store.ExpiringUploads(ctx, expiredBefore, s.cfg.BatchSize)
	if err != nil {
		return false, fmt.Errorf("list expiring uploads: %w", err)
	}
	more = len(files) == s.cfg.BatchSize
	missing := make([]string, 0, len(files))
	for _, f := range files {
		if s.cfg.Completer == nil {
			missing = append(missing, f.ID)
			continue
		}
		switch s.complete(ctx, f, c) {
		case toExpire:
			missing = append(missing, f.ID)
		case unreachable:
			// Its backend could not be reached: the upload stays PENDING
			// until a later sweep can look at its object. The next batch
			// would list it again, so this sweep's expiries end here.
			more = false
		}
	}
	if len(missing) == 0 {
		return more, nil
	}
	expired, err := s.cfg.Store.ExpireUploads(ctx, missing, expiredBefore, now)
	if err != nil {
		return false, fmt.Errorf("expire uploads: %w", err)
	}
	c.Expired += len(expired)
	s.metrics.expired.Add(float64(len(expired)))
	for _, f := range expired {
		s.cfg.Logger.DebugContext(ctx, "upload expired", "tenant", f.Tenant, "file_id", f.ID, "upload_expires", f.UploadExpires)
	}
	return more, nil
}

// verdict is what the sweeper does with an upload past its expiry.
type verdict int

const (
	settled     verdict = iota // READY, FAILED, or no longer PENDING
	toExpire                   // no bytes, or bytes that cannot be checked
	unreachable                // its backend is unavailable: look again later
)

// complete asks the Completer about f, an upload past its expiry, and
// says what becomes of it. An upload whose backend is unavailable
// (signer.ErrUnavailable) is left PENDING, so that bytes which did
// arrive are not expired and deleted during a storage outage; any other
// error expires it. Only the completion this sweeper made is counted:
// another replica that looked at f at the same time and lost the race to
// record it counts nothing.
func (s *Sweeper) complete(ctx context.Context, f *store.File, c *Counts) verdict {
	done, changed, err := s.cfg.Completer.CompletePending(ctx, f, store.CompletedBySweeper)
	switch {
	case errors.Is(err, signer.ErrUnavailable):
		s.cfg.Logger.WarnContext(ctx, "could not reach an expiring upload's backend; it stays PENDING until the next sweep", "tenant", f.Tenant, "file_id", f.ID, "err", err)
		return unreachable
	case err != nil:
		s.cfg.Logger.WarnContext(ctx, "could not look at an expiring upload's object; expiring it", "tenant", f.Tenant, "file_id", f.ID, "err", err)
		return toExpire
	}
	switch {
	case done.State == store.StatePending:
		return toExpire
	case !changed:
		// Settled by someone else meanwhile: CompleteUpload, a
		// notification, or another replica's sweeper.
	case done.State == store.StateReady:
		c.Completed++
		s.metrics.completed.WithLabelValues(string(store.StateReady)).Inc()
		s.cfg.Logger.InfoContext(ctx, "upload completed by the sweeper", "tenant", f.Tenant, "file_id", f.ID, "size_bytes", done.SizeBytes)
	case done.State == store.StateFailed:
		c.Rejected++
		s.metrics.completed.WithLabelValues(string(store.StateFailed)).Inc()
		s.cfg.Logger.InfoContext(ctx, "upload failed verification at expiry", "tenant", f.Tenant, "file_id", f.ID, "reason", done.FailureReason)
	}
	return settled
}

// deleteObject deletes one queued object, after aborting the multipart
// upload the deletion carries, finishing the deletion on success and
// rescheduling it with backoff on failure. Only store errors are
// returned.
func (s *Sweeper) deleteObject(ctx context.Context, d *store.Deletion, c *Counts) error {
	backend, ok := s.cfg.Backends[d.Backend]
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("backend %q is not configured", d.Backend)
	case d.MultipartUploadID != "" && s.cfg.Multipart[d.Backend] != nil:
		_, err = s.abortMultipart(ctx, s.cfg.Multipart[d.Backend], d.Backend, d.Key, d.MultipartUploadID, d.Reason, c)
		if err == nil {
			err = backend.Delete(ctx, d.Key)
		}
	default:
		err = backend.Delete(ctx, d.Key)
	}
	if err == nil {
		if err := s.cfg.Store.FinishDeletion(ctx, d.ID); err != nil {
			return fmt.Errorf("finish deletion %d: %w", d.ID, err)
		}
		c.ObjectsDeleted[d.Reason]++
		s.metrics.deleted.WithLabelValues(d.Reason).Inc()
		s.cfg.Logger.DebugContext(ctx, "object deleted", "tenant", d.Tenant, "file_id", d.FileID, "backend", d.Backend, "reason", d.Reason)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease runs out and another sweep retries
	}
	c.DeleteFailures++
	s.metrics.deleteFailures.Inc()
	next := s.cfg.Now().Add(Backoff(d.Attempts))
	s.cfg.Logger.WarnContext(ctx, "object deletion failed; will retry", "tenant", d.Tenant, "file_id", d.FileID,
		"backend", d.Backend, "attempts", d.Attempts, "retry_at", next, "err", err)
	if rerr := s.cfg.Store.RetryDeletion(ctx, d.ID, next, err.Error()); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
		return fmt.Errorf("reschedule deletion %d: %w", d.ID, rerr)
	}
	return nil
}

// Backoff is the wait before the next attempt of a deletion that failed
// attempts times: 10s doubling up to an hour.
func Backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// checkObject stats a READY file's object and flags (or unflags) it.
func (s *Sweeper) checkObject(ctx context.Context, f *store.File, c *Counts) error {
	backend, ok := s.cfg.Backends[f.Backend]
	if !ok {
		return nil
	}
	_, err := backend.Stat(ctx, f.Key)
	switch {
	case errors.Is(err, signer.ErrNotFound):
		c.Checked++
		c.Missing++
		s.metrics.checked.Inc()
		s.metrics.missing.Inc()
		s.cfg.Logger.WarnContext(ctx, "object of a READY file is missing", "tenant", f.Tenant, "file_id", f.ID, "backend", f.Backend)
		if err := s.cfg.Store.SetObjectMissing(ctx, f.Tenant, f.ID, true, s.cfg.Now()); err != nil {
			return fmt.Errorf("flag missing object of %s: %w", f.ID, err)
		}
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.Logger.WarnContext(ctx, "object check failed", "tenant", f.Tenant, "file_id", f.ID, "backend", f.Backend, "err", err)
	default:
		c.Checked++
		s.metrics.checked.Inc()
		if !f.ObjectMissingSince.IsZero() {
			if err := s.cfg.Store.SetObjectMissing(ctx, f.Tenant, f.ID, false, s.cfg.Now()); err != nil {
				return fmt.Errorf("unflag object of %s: %w", f.ID, err)
			}
		}
	}
	return nil
}

// deleteRetained deletes the READY files whose category's retention
// period ran out, up to MaxBatches batches per category, in a fixed order
// of the categories. A file another replica deleted first is skipped.
func (s *Sweeper) deleteRetained(ctx context.Context, c *Counts) error {
	categories := make([]string, 0, len(s.cfg.Retention))
	for name, d := range s.cfg.Retention {
		if d > 0 {
			categories = append(categories, name)
		}
	}
	slices.Sort(categories)
	for _, name := range categories {
		for range s.cfg.MaxBatches {
			now := s.cfg.Now()
			files, err := s.cfg.Store.RetainedFiles(ctx, name, now.Add(-s.cfg.Retention[name]), s.cfg.BatchSize)
			if err != nil {
				return fmt.Errorf("retained files of category %q: %w", name, err)
			}
			for _, f := range files {
				_, err := s.cfg.Store.DeleteFileAndQueueObject(ctx, f.Tenant, f.ID, now, now)
				switch {
				case errors.Is(err, store.ErrNotFound):
					continue
				case err != nil:
					return fmt.Errorf("delete retained file %s: %w", f.ID, err)
				}
				c.Retained++
				s.metrics.retained.Inc()
			}
			if len(files) < s.cfg.BatchSize {
				break
			}
		}
	}
	return nil
}
